package xds

import (
	"bytes"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A state-of-the-world sidecar names every cluster it has in each request
// for endpoints, its ACKs included: with a thousand services, three
// thousand names, a hundred kilobytes, every time any endpoint changes,
// from every proxy. Decoded by protobuf, each name is a new string (and a
// UTF-8 check), and that was most of what an endpoint change cost the
// server. requestCodec decodes a DiscoveryRequest's resource names into
// the strings the server already has for them (nameTable) instead: no
// allocation, no check again. Everything else, and any request it does
// not understand, is decoded by protobuf as usual.

// requestCodec is gRPC's protobuf codec with that one difference.
type requestCodec struct {
	proto encoding.CodecV2
	names *nameTable
	lists *nameLists
}

func newRequestCodec(names *nameTable) requestCodec {
	return requestCodec{proto: encoding.GetCodecV2("proto"), names: names, lists: newNameLists()}
}

// option makes a gRPC server use the codec.
func (c requestCodec) option() grpc.ServerOption { return grpc.ForceServerCodecV2(c) }

func (c requestCodec) Name() string { return "proto" }

func (c requestCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch v.(type) {
	case *discoverypb.DiscoveryResponse, *discoverypb.DeltaDiscoveryResponse:
		if out, ok := marshalShared(v.(proto.Message)); ok {
			return out, nil // encoded.go
		}
	}
	return c.proto.Marshal(v)
}

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*discoverypb.DiscoveryRequest)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	b, release := contiguous(data)
	defer release()
	if decodeRequest(b, req, c.names.get(), c.lists) {
		return nil
	}
	proto.Reset(req)
	return proto.Unmarshal(b, req)
}

// contiguous is data in one piece. A large request comes in pieces (16 KB
// HTTP/2 frames); gRPC's pool would copy them into a buffer of the next
// size up and zero all of it first (a megabyte for each 150 KB ACK of
// 3,000 names). These buffers are overwritten, never zeroed: decodeRequest
// and protobuf copy what they keep.
func contiguous(data mem.BufferSlice) (b []byte, release func()) {
	if len(data) == 1 {
		return data[0].ReadOnlyData(), func() {}
	}
	n := data.Len()
	bp, _ := requestBuffers.Get().(*[]byte)
	if bp == nil || cap(*bp) < n {
		bp = new([]byte)
		*bp = make([]byte, n)
	}
	b = (*bp)[:n]
	data.CopyTo(b)
	return b, func() {
		if cap(*bp) <= maxPooledRequest {
			requestBuffers.Put(bp)
		}
	}
}

// requestBuffers are contiguous's buffers; one larger than
// maxPooledRequest (a request far beyond any sidecar's) is not kept.
var requestBuffers sync.Pool

const maxPooledRequest = 1 << 20

// Field numbers of DiscoveryRequest, from its descriptor.
var (
	reqFields        = (&discoverypb.DiscoveryRequest{}).ProtoReflect().Descriptor().Fields()
	reqVersion       = reqFields.ByName("version_info").Number()
	reqNode          = reqFields.ByName("node").Number()
	reqResourceNames = reqFields.ByName("resource_names").Number()
	reqTypeURL       = reqFields.ByName("type_url").Number()
	reqNonce         = reqFields.ByName("response_nonce").Number()
	reqErrorDetail   = reqFields.ByName("error_detail").Number()
)

// decodeRequest decodes b into req, the names through names. It reports
// false when b holds something it does not decode (a field it does not
// know, a wire type that does not fit, a string that is not UTF-8): the
// caller then leaves it to protobuf. A list of names that some request
// sent before (every ACK of every sidecar of a scope sends the same one)
// is not decoded again: lists holds the decoded ones, by their bytes.
func decodeRequest(b []byte, req *discoverypb.DiscoveryRequest, names map[string]string, lists *nameLists) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return false
		}
		if num == reqResourceNames && len(req.ResourceNames) == 0 && lists != nil {
			// The names are one run of fields: find a run sent before that
			// b starts with, or decode it and remember it.
			if list, n := lists.find(b); list != nil {
				req.ResourceNames = list
				b = b[n:]
				continue
			}
			run := namesRun(b)
			if len(run) == 0 || !decodeNames(run, req, names) {
				// No whole field (a length past the end): protobuf's error.
				// Going on would read the same byte again, forever.
				return false
			}
			lists.add(run, req.ResourceNames)
			b = b[len(run):]
			continue
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case reqResourceNames:
			if !appendName(req, v, names) {
				return false
			}
		case reqVersion, reqTypeURL, reqNonce:
			if !utf8.Valid(v) {
				return false
			}
			setString(req, num, string(v))
		case reqNode:
			if req.Node == nil {
				req.Node = &core.Node{}
			}
			if (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, req.Node) != nil {
				return false
			}
		case reqErrorDetail:
			if req.ErrorDetail == nil {
				req.ErrorDetail = &rpcstatus.Status{}
			}
			if (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, req.ErrorDetail) != nil {
				return false
			}
		default:
			return false // resource_locators, or a field added later
		}
	}
	return true
}

// decodeNames decodes a run of resource_names fields (namesRun).
func decodeNames(run []byte, req *discoverypb.DiscoveryRequest, names map[string]string) bool {
	for len(run) > 0 {
		_, _, n := protowire.ConsumeTag(run)
		v, m := protowire.ConsumeBytes(run[n:])
		if !appendName(req, v, names) {
			return false
		}
		run = run[n+m:]
	}
	return true
}

// appendName appends a name, as the server's own string when it has one.
func appendName(req *discoverypb.DiscoveryRequest, v []byte, names map[string]string) bool {
	name, ok := names[string(v)] // no copy to look it up
	if !ok {
		if !utf8.Valid(v) {
			return false
		}
		name = string(v)
	}
	req.ResourceNames = append(req.ResourceNames, name)
	return true
}

// namesRun is the run of resource_names fields b starts with.
func namesRun(b []byte) []byte {
	end := 0
	for end < len(b) {
		num, typ, n := protowire.ConsumeTag(b[end:])
		if n < 0 || num != reqResourceNames || typ != protowire.BytesType {
			break
		}
		_, m := protowire.ConsumeBytes(b[end+n:])
		if m < 0 {
			break
		}
		end += n + m
	}
	return b[:end]
}

// nameLists are the name lists requests sent, decoded, by their bytes
// (a run of resource_names fields), for the requests that send them again.
// The lists are shared, read-only: the cache never changes a request's
// names in place (asked.go).
//
// A list is found by its first headBytes, then compared whole: finding
// where a run of 3,000 fields ends, and hashing all of it, cost more than
// comparing it with the one it turns out to be.
type nameLists struct {
	seed   maphash.Seed
	mu     sync.Mutex
	byHead map[uint64][]nameList // newest last
	count  int
}

type nameList struct {
	run   []byte
	names []string
}

const (
	// minListBytes: shorter lists are decoded as they come.
	minListBytes = 1 << 10
	// headBytes of a run find the lists it may be; their last tailBytes
	// are compared before the rest.
	headBytes, tailBytes = 256, 64
	// maxListsPerHead bounds the lists kept with the same first names
	// (sidecars of different scopes that all reach a few services first,
	// or a service added while some sidecars still have the list before).
	maxListsPerHead = 64
)

func newNameLists() *nameLists {
	return &nameLists{seed: maphash.MakeSeed(), byHead: map[uint64][]nameList{}}
}

// find returns the names of the run sent before that b starts with, and
// its length in b; nil when there is none. The run must end where b's
// fields of names do (as namesRun would find it): a run that b merely
// starts with, followed by more names, is not the list b holds.
func (l *nameLists) find(b []byte) ([]string, int) {
	if len(b) < minListBytes {
		return nil, 0
	}
	key := maphash.Bytes(l.seed, b[:headBytes])
	l.mu.Lock()
	lists := l.byHead[key] // never changed in place: add appends or replaces
	l.mu.Unlock()
	for i := len(lists) - 1; i >= 0; i-- {
		run := lists[i].run
		// Cheap tests first, so that only the list b holds is compared
		// whole: where b's names would end, and how the run ends.
		if len(run) > len(b) || startsWithName(b[len(run):]) {
			continue
		}
		tail := max(len(run)-tailBytes, 0)
		if bytes.Equal(b[tail:len(run)], run[tail:]) && bytes.Equal(b[:tail], run[:tail]) {
			return lists[i].names, len(run)
		}
	}
	return nil, 0
}

// startsWithName reports whether b starts with a resource_names field.
func startsWithName(b []byte) bool {
	num, typ, n := protowire.ConsumeTag(b)
	return n > 0 && num == reqResourceNames && typ == protowire.BytesType
}

// add remembers the names a run of fields (namesRun) decoded to.
func (l *nameLists) add(run []byte, names []string) {
	if len(run) < minListBytes {
		return
	}
	key := maphash.Bytes(l.seed, run[:headBytes])
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count >= maxNameSets {
		clear(l.byHead)
		l.count = 0
	}
	lists := l.byHead[key]
	if len(lists) >= maxListsPerHead {
		// A new slice, not a shift in place: find may be reading this one.
		lists = slices.Clone(lists[1:])
		l.count--
	}
	l.byHead[key] = append(lists, nameList{run: bytes.Clone(run), names: slices.Clip(names)})
	l.count++
}

func setString(req *discoverypb.DiscoveryRequest, num protowire.Number, s string) {
	switch num {
	case reqVersion:
		req.VersionInfo = s
	case reqTypeURL:
		req.TypeUrl = s
	case reqNonce:
		req.ResponseNonce = s
	}
}

// nameTable holds the names requests are decoded into: the names of the
// mesh's load assignments, the ones a sidecar lists. Replaced as a whole
// when the mesh's clusters change; read without a lock.
type nameTable struct {
	p atomic.Pointer[map[string]string]
}

func (t *nameTable) get() map[string]string {
	if m := t.p.Load(); m != nil {
		return *m
	}
	return nil
}

// set makes the table hold exactly these names.
func (t *nameTable) set(names []string) {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = n
	}
	t.p.Store(&m)
}
