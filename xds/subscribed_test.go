package xds

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// subscribedNames says what a plain set of names would, request after
// request, and keeps a base only while most of the names are in it.
func TestSubscribedNamesIsASetOfNames(t *testing.T) {
	names := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("n%03d", i))
		}
		return out
	}
	type request struct{ subscribe, unsubscribe []string }
	cases := []struct {
		name     string
		requests []request
		wantBase bool
	}{
		{name: "one list", requests: []request{{subscribe: names(0, 100)}}, wantBase: true},
		{name: "a few names", requests: []request{{subscribe: names(0, 3)}, {unsubscribe: names(1, 2)}}},
		{name: "one more, one less", wantBase: true, requests: []request{
			{subscribe: names(0, 100)}, {subscribe: names(100, 101)}, {unsubscribe: names(5, 6)},
		}},
		{name: "unsubscribed and subscribed again", wantBase: true, requests: []request{
			{subscribe: names(0, 100)}, {unsubscribe: names(0, 10)}, {subscribe: names(0, 5)}, {unsubscribe: names(500, 501)},
		}},
		{name: "most of it unsubscribed", wantBase: true, requests: []request{
			{subscribe: names(0, 100)}, {unsubscribe: names(0, 60)}, {subscribe: names(200, 210)},
		}},
		{name: "everything unsubscribed", requests: []request{{subscribe: names(0, 100)}, {unsubscribe: names(0, 100)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sets := newNameSets()
			s, want := &subscribedNames{}, map[string]bool{}
			for _, r := range c.requests {
				var listed *nameSet
				if len(r.subscribe) >= minSharedNames {
					listed = sets.shared(sortedCopy(r.subscribe))
				}
				s.update(r.subscribe, r.unsubscribe, listed, sets)
				for _, name := range r.subscribe {
					want[name] = true
				}
				for _, name := range r.unsubscribe {
					delete(want, name)
				}
			}
			for _, name := range names(0, 600) {
				if s.has(name) != want[name] {
					t.Errorf("has(%s) = %v, want %v", name, s.has(name), want[name])
				}
			}
			if (s.base != nil) != c.wantBase {
				t.Errorf("base kept: %v, want %v", s.base != nil, c.wantBase)
			}
			if s.base != nil && len(s.added)+len(s.removed) > 16+len(s.base.list)/4 {
				t.Errorf("%d names differ from a base of %d", len(s.added)+len(s.removed), len(s.base.list))
			}
		})
	}
	if (*subscribedNames)(nil).has("n000") {
		t.Error("no subscription has a name")
	}
}

// Delta streams that subscribe to the same endpoints (in any order) share
// one set of the names; go-control-plane's subscription holds the
// placeholder only; and each stream is sent what it subscribed to, no
// more, also after it unsubscribes from some (issue 13: memory per proxy).
func TestDeltaSubscriptionsAreKeptByTheServerAndShared(t *testing.T) {
	snap := discoverytest.Synthetic(12, 2)
	ts := newTestServer(t, snap)
	type client struct {
		nodeID string
		stream discoverypb.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	}
	exchange := func(c client, req *discoverypb.DeltaDiscoveryRequest) *discoverypb.DeltaDiscoveryResponse {
		t.Helper()
		if err := c.stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := c.stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ack := func(c client, resp *discoverypb.DeltaDiscoveryResponse) {
		t.Helper()
		if err := c.stream.Send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the ACK", func() bool { return !ts.inFlight(c.nodeID) })
	}
	edsState := func(c client) *typeSync {
		ts.cache.mu.Lock()
		defer ts.cache.mu.Unlock()
		for st := range ts.cache.nodes[c.nodeID].streams {
			return st.types[resourcev3.EndpointType]
		}
		return nil
	}
	names := func(resp *discoverypb.DeltaDiscoveryResponse) []string {
		var out []string
		for _, r := range resp.Resources {
			out = append(out, r.Name)
		}
		slices.Sort(out)
		return out
	}

	var clients []client
	var eds []string
	// The third stream sends the first one's list as it was: the codec
	// hands over the same list, whose set is then known (nameSets.sortedOf).
	for i, pod := range snap.Pods[:3] {
		ctx, cancel := context.WithTimeout(podContext(pod), 10*time.Second)
		defer cancel()
		stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(ts.conn).DeltaAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := client{nodeID: proxyOf(pod).NodeID(), stream: stream}
		clusters := exchange(c, &discoverypb.DeltaDiscoveryRequest{Node: &core.Node{Id: c.nodeID}, TypeUrl: resourcev3.ClusterType})
		ack(c, clusters)
		if eds == nil {
			for _, r := range clusters.Resources {
				if r.Name[:9] == "outbound|" {
					eds = append(eds, r.Name)
				}
			}
			slices.Sort(eds)
		}
		list := slices.Clone(eds)
		if i == 1 {
			slices.Reverse(list)
		}
		first := exchange(c, &discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: list})
		if got := names(first); !slices.Equal(got, eds) {
			t.Fatalf("sent %d load assignments, want the %d subscribed to", len(got), len(eds))
		}
		ack(c, first)
		clients = append(clients, c)
	}
	a, b, third := edsState(clients[0]), edsState(clients[1]), edsState(clients[2])
	ts.cache.mu.Lock()
	if a.subscribed == nil || b.subscribed == nil || a.subscribed.base == nil || a.subscribed.base != b.subscribed.base {
		t.Errorf("the streams do not share the set of the names they both subscribed to")
	}
	if third.subscribed == nil || third.subscribed.base != a.subscribed.base {
		t.Errorf("the stream that sent the first one's list again does not share its set")
	}
	if sub := a.watch.sub; len(sub.SubscribedResources()) != 1 || sub.IsWildcard() {
		t.Errorf("go-control-plane's subscription holds %d names (wildcard %v), want the placeholder", len(sub.SubscribedResources()), sub.IsWildcard())
	}
	ts.cache.mu.Unlock()

	// The first stream stops wanting half of them; an endpoint change of
	// every service then reaches it only for the rest.
	c := clients[0]
	if err := c.stream.Send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesUnsubscribe: eds[:len(eds)/2]}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unsubscription", func() bool {
		ts.cache.mu.Lock()
		defer ts.cache.mu.Unlock()
		return !a.subscribed.has(eds[0])
	})
	changed := discoverytest.Synthetic(12, 2)
	changed.Version = 2
	for _, svc := range changed.Services {
		changed.Endpoints[svc.Key()] = changed.Endpoints[svc.Key()][:1]
	}
	ts.apply(changed)
	resp, err := c.stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names(resp) {
		if slices.Contains(eds[:len(eds)/2], name) {
			t.Errorf("sent %s, which the stream unsubscribed from", name)
		}
	}
	if len(resp.Resources) == 0 {
		t.Error("the endpoint change sent nothing the stream still subscribes to")
	}
	ts.cache.mu.Lock()
	defer ts.cache.mu.Unlock()
	if !b.subscribed.has(eds[0]) || !third.subscribed.has(eds[0]) {
		t.Error("one stream's unsubscription changed the other's names")
	}
}
