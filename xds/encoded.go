package xds

import (
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// A response is marshaled by gRPC into a buffer of its own before it is
// written: two thousand proxies syncing the same three thousand clusters
// would be two thousand copies of them in flight (what made the server's
// memory grow by a whole response per connected proxy). So the resources
// of a response that many streams send (a shared type view, or what
// changed in it) are marshaled once, as the response's `resources` field
// on the wire, and carried in each stream's response as its unknown
// fields: protobuf writes unknown fields as they are, so the response is
// right however it is marshaled, and requestCodec hands those bytes to
// gRPC as they are, without a copy. Their only copy is the type view's.
// (Server-side, such a response's Resources is empty: read it off the
// wire, as a proxy does.)

var (
	sotwResourcesField  = fieldOf(&discoverypb.DiscoveryResponse{}, "resources")
	deltaResourcesField = fieldOf(&discoverypb.DeltaDiscoveryResponse{}, "resources")
)

func fieldOf(m proto.Message, name string) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name)).Number()
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// encodeSotw marshals Anys as the resources of a DiscoveryResponse.
func encodeSotw(anys []*anypb.Any) []byte {
	var b []byte
	for _, a := range anys {
		b = appendMessage(b, sotwResourcesField, a)
	}
	return b
}

// encodeDelta marshals resources as those of a DeltaDiscoveryResponse.
func encodeDelta(resources []*Resource) []byte {
	var b []byte
	for _, r := range resources {
		b = appendMessage(b, deltaResourcesField, &discoverypb.Resource{Name: r.Name, Version: r.Version, Resource: r.Any})
	}
	return b
}

func appendMessage(b []byte, field protowire.Number, m proto.Message) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(deterministic.Size(m)))
	b, _ = deterministic.MarshalAppend(b, m) // an Any or a Resource of Anys: cannot fail
	return b
}

// withEncoded sets a response's resources to pre-encoded ones.
func withEncoded(m proto.Message, encoded []byte) {
	m.ProtoReflect().SetUnknown(encoded)
}

// minShared is the size from which pre-encoded resources are sent as they
// are rather than copied into the response's buffer.
const minShared = 4 << 10

// marshalShared marshals a response whose resources were pre-encoded:
// its own few fields, then the shared bytes, as two buffers.
func marshalShared(m proto.Message) (mem.BufferSlice, bool) {
	r := m.ProtoReflect()
	shared := r.GetUnknown()
	if len(shared) < minShared {
		return nil, false
	}
	r.SetUnknown(nil)
	head, err := deterministic.Marshal(m)
	r.SetUnknown(shared)
	if err != nil {
		return nil, false
	}
	return mem.BufferSlice{mem.SliceBuffer(head), mem.SliceBuffer(shared)}, true
}
