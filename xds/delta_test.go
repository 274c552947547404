package xds

import (
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// Delta xDS sends only what changed: new or changed resources by name and
// version, and the names to remove.
func TestDeltaSendsOnlyChangesAndRemovals(t *testing.T) {
	snap := discoverytest.Synthetic(3, 2)
	ts := newTestServer(t, snap)
	stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(ts.conn).DeltaAggregatedResources(podContext(snap.Pods[0]))
	if err != nil {
		t.Fatal(err)
	}
	node := &core.Node{Id: proxyOf(snap.Pods[0]).NodeID()}
	if err := stream.Send(&discoverypb.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Resources) != 3*3+1 || len(first.RemovedResources) != 0 {
		t.Fatalf("first delta: %d resources, %d removed", len(first.Resources), len(first.RemovedResources))
	}
	if err := stream.Send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: first.Nonce}); err != nil {
		t.Fatal(err)
	}
	// One service fewer: its three clusters go, nothing else is resent.
	ts.apply(discoverytest.Synthetic(2, 2))
	second, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Resources) != 0 || len(second.RemovedResources) != 3 {
		t.Fatalf("second delta: %d resources, removed %v", len(second.Resources), second.RemovedResources)
	}
}
