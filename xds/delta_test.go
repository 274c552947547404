package xds

import (
	"context"
	"strings"
	"testing"
	"time"

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

// A name subscribed to while a response is on its way is sent once that
// response is acknowledged: the acknowledgement says nothing of it, and
// the proxy must not be taken to hold all it wants.
func TestDeltaSendsANameSubscribedWhileAResponseIsInFlight(t *testing.T) {
	snap := discoverytest.Synthetic(3, 2)
	ts := newTestServer(t, snap)
	// A response that never comes fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(podContext(snap.Pods[0]), 10*time.Second)
	defer cancel()
	stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(ts.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &core.Node{Id: proxyOf(snap.Pods[0]).NodeID()}
	send := func(req *discoverypb.DeltaDiscoveryRequest) {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() *discoverypb.DeltaDiscoveryResponse {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	send(&discoverypb.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType})
	var eds []string
	for _, r := range recv().Resources {
		if strings.HasPrefix(r.Name, "outbound|") {
			eds = append(eds, r.Name)
		}
	}
	if len(eds) < 2 {
		t.Fatalf("clusters: %v", eds)
	}
	send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: eds[:1]})
	first := recv()
	if len(first.Resources) != 1 || first.Resources[0].Name != eds[0] {
		t.Fatalf("first endpoints: %v", first.Resources)
	}
	send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: eds[1:2]})
	send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: first.Nonce})
	second := recv()
	if len(second.Resources) != 1 || second.Resources[0].Name != eds[1] {
		t.Fatalf("after subscribing to %s: %v", eds[1], second.Resources)
	}
}
