package load

import (
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The sidecars' codec reads responses as protobuf does, in the fields they
// use; a field it does not read (canary, control_plane) is left out.
func TestResponseCodecReadsWhatProtobufReads(t *testing.T) {
	a, err := anypb.New(&cluster.Cluster{Name: "outbound|80||a.ns.svc.cluster.local"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := anypb.New(&cluster.Cluster{Name: "b"})
	codec := newResponseCodec()
	for _, tc := range []struct {
		name string
		in   proto.Message
		out  proto.Message
	}{
		{"state of the world", &discoverypb.DiscoveryResponse{VersionInfo: "v1", TypeUrl: resourcev3.ClusterType, Nonce: "7", Resources: []*anypb.Any{a, b}},
			&discoverypb.DiscoveryResponse{}},
		{"delta", &discoverypb.DeltaDiscoveryResponse{TypeUrl: resourcev3.ClusterType, Nonce: "8", RemovedResources: []string{"gone", "too"},
			Resources: []*discoverypb.Resource{{Name: "a", Version: "1", Resource: a}, {Name: "b", Version: "2", Resource: b}}},
			&discoverypb.DeltaDiscoveryResponse{}},
		{"an empty delta", &discoverypb.DeltaDiscoveryResponse{TypeUrl: resourcev3.EndpointType, Nonce: "9"}, &discoverypb.DeltaDiscoveryResponse{}},
	} {
		raw, err := proto.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(raw)}, tc.out); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !proto.Equal(tc.in, tc.out) {
			t.Errorf("%s: decoded\n%v\nwant\n%v", tc.name, tc.out, tc.in)
		}
	}
}

// A request whose names withNames set marshals to the request with those
// resource_names, in the sidecar's order.
func TestWithNamesIsTheRequestWithThoseNames(t *testing.T) {
	s := newSidecar(Proxy{}, false, newNames(), newSecretsOf(), newNeedsOf())
	ts := &typeState{}
	ids := []int32{s.names.idOf("outbound|80||a"), s.names.idOf("outbound|80||b"), s.names.idOf("outbound|80|v1|a")}
	for _, want := range [][]int32{ids, ids[:1], nil} {
		ts.want(sortedIDs(append([]int32(nil), want...)))
		req := &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: "v", ResponseNonce: "n"}
		s.withNames(req, ts)
		raw, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		got := &discoverypb.DiscoveryRequest{}
		if err := proto.Unmarshal(raw, got); err != nil {
			t.Fatal(err)
		}
		expected := &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: "v", ResponseNonce: "n", ResourceNames: s.nameList(ts.wanted)}
		if !proto.Equal(got, expected) {
			t.Errorf("decoded %v, want %v", got, expected)
		}
	}
}
