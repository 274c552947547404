package xds

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
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
// server. requestCodec decodes a DiscoveryRequest's resource names (and a
// DeltaDiscoveryRequest's, codec_delta.go) into the strings the server
// already has for them (nameTable) instead: no allocation, no check
// again. Everything else, and any request it does not understand, is
// decoded by protobuf as usual.

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
	var decode func(b []byte) bool
	switch req := v.(type) {
	case *discoverypb.DiscoveryRequest:
		decode = func(b []byte) bool { return decodeRequest(b, req, c.names.get(), c.lists) }
	case *discoverypb.DeltaDiscoveryRequest:
		decode = func(b []byte) bool { return decodeDeltaRequest(b, req, c.names.get(), c.lists) } // codec_delta.go
	default:
		return c.proto.Unmarshal(data, v)
	}
	b, release := contiguous(data)
	defer release()
	if decode(b) {
		return nil
	}
	msg := v.(proto.Message)
	proto.Reset(msg)
	return proto.Unmarshal(b, msg)
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
	return decodeFields(b, reqResourceNames, &req.ResourceNames, names, lists, func(num protowire.Number, v []byte) (ok bool) {
		switch num {
		case reqVersion:
			req.VersionInfo, ok = validString(v)
		case reqTypeURL:
			req.TypeUrl, ok = validString(v)
		case reqNonce:
			req.ResponseNonce, ok = validString(v)
		case reqNode:
			ok = mergeInto(&req.Node, v)
		case reqErrorDetail:
			ok = mergeInto(&req.ErrorDetail, v)
		}
		return ok // false for resource_locators, or a field added later
	})
}

// decodeFields walks the fields of a request whose every field is of
// bytes (a string, a message): the names of field namesNum go into
// *list, a run of them sent before found whole (codec_names.go), and
// each other field to field, which reports whether it decoded it.
func decodeFields(b []byte, namesNum protowire.Number, list *[]string, names map[string]string, lists *nameLists, field func(num protowire.Number, v []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return false
		}
		if num == namesNum && len(*list) == 0 {
			run, n := readNames(b, num, names, lists)
			if n < 0 {
				return false
			}
			*list, b = run, b[n:]
			continue
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		ok := false
		if num == namesNum {
			*list, ok = appendName(*list, v, names)
		} else {
			ok = field(num, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// validString is v as a string, if it is UTF-8 (as protobuf requires).
func validString(v []byte) (string, bool) {
	if !utf8.Valid(v) {
		return "", false
	}
	return string(v), true
}

// mergeInto merges the message v into *dst, made if nil (protobuf's
// rule for a message field that comes more than once).
func mergeInto[M any, PM interface {
	*M
	proto.Message
}](dst *PM, v []byte) bool {
	if *dst == nil {
		*dst = new(M)
	}
	return (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, *dst) == nil
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
