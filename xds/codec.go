package xds

import (
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
}

func newRequestCodec(names *nameTable) requestCodec {
	return requestCodec{proto: encoding.GetCodecV2("proto"), names: names}
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
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if decodeRequest(buf.ReadOnlyData(), req, c.names.get()) {
		return nil
	}
	proto.Reset(req)
	return proto.Unmarshal(buf.ReadOnlyData(), req)
}

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
// caller then leaves it to protobuf.
func decodeRequest(b []byte, req *discoverypb.DiscoveryRequest, names map[string]string) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return false
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case reqResourceNames:
			name, ok := names[string(v)] // no copy to look it up
			if !ok {
				if !utf8.Valid(v) {
					return false
				}
				name = string(v)
			}
			req.ResourceNames = append(req.ResourceNames, name)
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
