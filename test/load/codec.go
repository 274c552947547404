package load

import (
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// responseCodec is the simulated sidecars' gRPC codec. Decoded by
// protobuf, a response's every resource is copied into an Any of its own:
// a cold sync of two thousand sidecars copies (and zeroes) gigabytes on
// the cores the server is measured on, which Envoy, decoding in C++ on
// machines of its own, does not. responseCodec copies a response's bytes
// once and reads only the fields the sidecars use (type, version, nonce,
// and each resource's name, type and bytes), the resources' bytes pointing
// into that copy, a pooled buffer the sidecar gives back (release) once it
// has handled the response. Everything else goes through protobuf as
// usual. One codec per connection, whose one stream receives on one
// goroutine.
type responseCodec struct {
	proto encoding.CodecV2
	last  mem.Buffer // the bytes of the last response decoded
}

func newResponseCodec() *responseCodec {
	return &responseCodec{proto: encoding.GetCodecV2("proto")}
}

func (c *responseCodec) option() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.ForceCodecV2(c))
}

func (c *responseCodec) Name() string                           { return "proto" }
func (c *responseCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c *responseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c.release()
	switch resp := v.(type) {
	case *discoverypb.DiscoveryResponse:
		c.last = data.MaterializeToBuffer(mem.DefaultBufferPool())
		if decodeResponse(c.last.ReadOnlyData(), resp) {
			return nil
		}
	case *discoverypb.DeltaDiscoveryResponse:
		c.last = data.MaterializeToBuffer(mem.DefaultBufferPool())
		if decodeDeltaResponse(c.last.ReadOnlyData(), resp) {
			return nil
		}
	}
	c.release()
	proto.Reset(v.(proto.Message))
	return c.proto.Unmarshal(data, v)
}

// release gives back the bytes of the last response: nothing may read the
// resources decoded from it after.
func (c *responseCodec) release() {
	if c.last != nil {
		c.last.Free()
		c.last = nil
	}
}

var (
	respVersion   = fieldNumber(&discoverypb.DiscoveryResponse{}, "version_info")
	respResources = fieldNumber(&discoverypb.DiscoveryResponse{}, "resources")
	respTypeURL   = fieldNumber(&discoverypb.DiscoveryResponse{}, "type_url")
	respNonce     = fieldNumber(&discoverypb.DiscoveryResponse{}, "nonce")

	deltaResources = fieldNumber(&discoverypb.DeltaDiscoveryResponse{}, "resources")
	deltaTypeURL   = fieldNumber(&discoverypb.DeltaDiscoveryResponse{}, "type_url")
	deltaRemoved   = fieldNumber(&discoverypb.DeltaDiscoveryResponse{}, "removed_resources")
	deltaNonce     = fieldNumber(&discoverypb.DeltaDiscoveryResponse{}, "nonce")

	resourceName     = fieldNumber(&discoverypb.Resource{}, "name")
	resourceVersion  = fieldNumber(&discoverypb.Resource{}, "version")
	resourceResource = fieldNumber(&discoverypb.Resource{}, "resource")

	anyTypeURL = fieldNumber(&anypb.Any{}, "type_url")
	anyValue   = fieldNumber(&anypb.Any{}, "value")
)

// decodeResponse reads a state-of-the-world response; false when the
// bytes are not what it expects (protobuf then decodes them).
func decodeResponse(b []byte, resp *discoverypb.DiscoveryResponse) bool {
	ok := true
	eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		if typ != protowire.BytesType {
			return true // fields the sidecars do not read
		}
		switch num {
		case respVersion:
			resp.VersionInfo = string(v)
		case respTypeURL:
			resp.TypeUrl = string(v)
		case respNonce:
			resp.Nonce = string(v)
		case respResources:
			a, good := decodeAny(v)
			ok = ok && good
			resp.Resources = append(resp.Resources, a)
		}
		return ok
	})
	return ok && resp.TypeUrl != ""
}

// decodeDeltaResponse reads a Delta response, as decodeResponse does.
func decodeDeltaResponse(b []byte, resp *discoverypb.DeltaDiscoveryResponse) bool {
	ok := true
	eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		if typ != protowire.BytesType {
			return true
		}
		switch num {
		case deltaTypeURL:
			resp.TypeUrl = string(v)
		case deltaNonce:
			resp.Nonce = string(v)
		case deltaRemoved:
			resp.RemovedResources = append(resp.RemovedResources, string(v))
		case deltaResources:
			r, good := decodeResource(v)
			ok = ok && good
			resp.Resources = append(resp.Resources, r)
		}
		return ok
	})
	return ok && resp.TypeUrl != ""
}

// decodeResource is a Delta response's resource, its Any's value pointing
// into b.
func decodeResource(b []byte) (*discoverypb.Resource, bool) {
	r, ok := &discoverypb.Resource{}, true
	eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		switch {
		case typ != protowire.BytesType:
		case num == resourceName:
			r.Name = string(v)
		case num == resourceVersion:
			r.Version = string(v)
		case num == resourceResource:
			r.Resource, ok = decodeAny(v)
		}
		return ok
	})
	return r, ok
}

// decodeAny is an Any whose value points into b.
func decodeAny(b []byte) (*anypb.Any, bool) {
	a := &anypb.Any{}
	eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		switch {
		case typ != protowire.BytesType:
		case num == anyTypeURL:
			a.TypeUrl = string(v)
		case num == anyValue:
			a.Value = v
		}
		return true
	})
	return a, a.TypeUrl != ""
}
