package xds

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// heldVersions says what a plain map of name to version would, whatever
// the view under it, and lets go of the view once most differs from it.
func TestHeldVersionsIsAMapOfNamesToVersions(t *testing.T) {
	view := func(n int) *TypeView {
		tv := &TypeView{Resources: map[string]*Resource{}}
		for i := range n {
			r := &Resource{Name: fmt.Sprintf("r%02d", i), Version: "v1"}
			tv.Resources[r.Name] = r
			tv.sorted = append(tv.sorted, r)
		}
		return tv
	}
	type op struct {
		remove        bool
		name, version string
	}
	cases := []struct {
		name      string
		view      *TypeView
		ops       []op
		wantWhole bool // still exactly the view
		wantView  bool // the view is still under it
	}{
		{name: "no view", ops: []op{{name: "a", version: "1"}, {name: "b", version: "2"}, {remove: true, name: "a"}}},
		{name: "whole view", view: view(4), wantWhole: true, wantView: true},
		{name: "same version again", view: view(4), ops: []op{{name: "r01", version: "v1"}}, wantWhole: true, wantView: true},
		{name: "changed and back", view: view(4), ops: []op{{name: "r01", version: "v2"}, {name: "r01", version: "v1"}}, wantWhole: true, wantView: true},
		{name: "changed, added, removed", view: view(4), wantView: true, ops: []op{
			{name: "r01", version: "v2"}, {name: "x", version: "1"}, {remove: true, name: "r02"}, {remove: true, name: "nothing"},
		}},
		{name: "removed and held again", view: view(4), wantView: true, ops: []op{{remove: true, name: "r03"}, {name: "r03", version: "?"}}},
		{name: "most of it removed", view: view(100), ops: func() []op {
			var ops []op
			for i := range 60 {
				ops = append(ops, op{remove: true, name: fmt.Sprintf("r%02d", i)})
			}
			return append(ops, op{name: "r70", version: "v9"})
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, want := newHeldVersions(), map[string]string{}
			if c.view != nil {
				h.holdWhole(c.view)
				for _, r := range c.view.sorted {
					want[r.Name] = r.Version
				}
			}
			for _, o := range c.ops {
				if o.remove {
					h.remove(o.name)
					delete(want, o.name)
				} else {
					h.set(o.name, o.version)
					want[o.name] = o.version
				}
			}
			got := map[string]string{}
			for name := range h.names {
				if _, twice := got[name]; twice {
					t.Errorf("%s listed twice", name)
				}
				got[name], _ = h.version(name)
			}
			if !maps.Equal(got, want) {
				t.Errorf("held %v, want %v", got, want)
			}
			if h.size() != len(want) {
				t.Errorf("size %d, want %d", h.size(), len(want))
			}
			for _, name := range []string{"r00", "r01", "r02", "r03", "r70", "x", "a", "b", "nothing"} {
				v, ok := h.version(name)
				if wv, wok := want[name]; v != wv || ok != wok || h.has(name) != wok {
					t.Errorf("version(%s) = %q, %v; want %q, %v", name, v, ok, wv, wok)
				}
			}
			if whole := h.whole(); (whole != nil) != c.wantWhole || (whole != nil && whole != c.view) {
				t.Errorf("whole() = %p, want the view: %v", whole, c.wantWhole)
			}
			if (h.view != nil) != c.wantView {
				t.Errorf("view kept: %v, want %v", h.view != nil, c.wantView)
			}
		})
	}
}

// A Delta stream holds the view it was brought to, the one every stream
// shares, not a map of its own: after the cold sync and after an endpoint
// change sent on top of it (issue 13: memory per proxy).
func TestDeltaStreamHoldsTheSharedViewItself(t *testing.T) {
	snap := discoverytest.Synthetic(3, 2)
	ts := newTestServer(t, snap)
	ctx, cancel := context.WithTimeout(podContext(snap.Pods[0]), 10*time.Second)
	defer cancel()
	stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(ts.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodeID := proxyOf(snap.Pods[0]).NodeID()
	exchange := func(req *discoverypb.DeltaDiscoveryRequest) *discoverypb.DeltaDiscoveryResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	clusters := exchange(&discoverypb.DeltaDiscoveryRequest{Node: &core.Node{Id: nodeID}, TypeUrl: resourcev3.ClusterType})
	var eds []string
	for _, r := range clusters.Resources {
		if r.Name[:9] == "outbound|" {
			eds = append(eds, r.Name)
		}
	}
	ack := func(typeURL, nonce string) {
		t.Helper()
		if err := stream.Send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: nonce}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the ACK", func() bool { return !ts.inFlight(nodeID) })
	}
	heldWhole := func(when string) {
		t.Helper()
		ts.cache.mu.Lock()
		defer ts.cache.mu.Unlock()
		e := ts.cache.nodes[nodeID]
		for st := range e.streams {
			eds := st.types[resourcev3.EndpointType]
			if current := e.view.typeView(resourcev3.EndpointType); eds.held.whole() != current {
				t.Errorf("%s: the stream holds %d names apart from the view (%d differ)", when, eds.held.size(), len(eds.held.diff))
			}
		}
	}
	ack(resourcev3.ClusterType, clusters.Nonce)
	first := exchange(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: eds})
	ack(resourcev3.EndpointType, first.Nonce)
	heldWhole("after the cold sync")

	flipped := discoverytest.Synthetic(3, 2)
	flipped.Version = 2
	flipped.Pods[1].Ready = false
	flipped.Endpoints[flipped.Services[0].Key()][1].Ready = false
	ts.apply(flipped)
	change, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(change.Resources) == 0 || len(change.Resources) == len(first.Resources) {
		t.Fatalf("endpoint change sent %d of %d load assignments", len(change.Resources), len(first.Resources))
	}
	ack(resourcev3.EndpointType, change.Nonce)
	heldWhole("after an endpoint change")

	// A route change makes a new endpoint view with the same load
	// assignments: nothing to send, and the stream holds the new view.
	reweighted := discoverytest.Synthetic(3, 2)
	reweighted.Version = 3
	reweighted.Pods[1].Ready = false
	reweighted.Endpoints[reweighted.Services[0].Key()][1].Ready = false
	reweighted.VirtualServices[2].Spec.Http[0].Route[0].Weight = 70
	reweighted.VirtualServices[2].Spec.Http[0].Route[1].Weight = 30
	endpointsNow := func() (view *TypeView, confirmed bool) {
		ts.cache.mu.Lock()
		defer ts.cache.mu.Unlock()
		e := ts.cache.nodes[nodeID]
		view, confirmed = e.view.typeView(resourcev3.EndpointType), true
		for st := range e.streams {
			confirmed = confirmed && st.types[resourcev3.EndpointType].upTo == view.Version
		}
		return view, confirmed
	}
	before, _ := endpointsNow()
	ts.apply(reweighted)
	waitFor(t, "the route change's endpoint view, confirmed", func() bool {
		after, confirmed := endpointsNow()
		return after != before && confirmed
	})
	heldWhole("after a route change that sent no endpoints")
}
