package xds

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// The blue/green switch of the tutorial, at the ADS level: every change
// moves the routes to the other subset and drops the subset they used.
// A model Envoy (xdstest.Envoy) applies each response as Envoy would and
// checks, after each, that no serving route names a cluster it lacks or
// cannot use yet. Both protocols, a sidecar and a gateway.
func TestMakeBeforeBreakBlueGreen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		node  string
		delta bool
	}{
		{"sotw/sidecar", sleepNode, false},
		{"sotw/gateway", gatewayNode, false},
		{"delta/sidecar", sleepNode, true},
		{"delta/gateway", gatewayNode, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e, err := xdstest.RunEnvoy(ctx, ts.conn, tc.node, tc.delta)
			if err != nil {
				t.Fatal(err)
			}
			e.Wait(t, "routes to v1", routesOnlyTo("v1"))
			live := "v1"
			for i := 0; i < 6; i++ {
				next := map[string]string{"v1": "v2", "v2": "v1"}[live]
				ts.apply(testMesh{subset: next}.snapshot(t))
				e.Wait(t, "routes to "+next+" and its old subset gone", routesOnlyTo(next))
				live = next
			}
			for _, v := range e.Violations() {
				t.Error(v)
			}
			// The order on the wire, for one switch: the new cluster (with
			// the old one kept) before the routes, the old cluster removed
			// after them.
			checkOrder(t, e.Responses())
		})
	}
}

// routesOnlyTo: every route configuration sends only to the subset's
// cluster, and the proxy has no cluster of the other subset left.
func routesOnlyTo(subset string) func(xdstest.State) bool {
	want, other := subsetCluster(subset), subsetCluster(map[string]string{"v1": "v2", "v2": "v1"}[subset])
	return func(s xdstest.State) bool {
		if len(s.Routes) == 0 || !s.Clusters[want] {
			return false
		}
		if _, has := s.Clusters[other]; has {
			return false
		}
		for _, clusters := range s.Routes {
			if slices.Contains(clusters, other) {
				return false
			}
		}
		return true
	}
}

// checkOrder finds the last switch in the responses and checks that the
// cluster removal came after the routes moved.
func checkOrder(t *testing.T, responses []string) {
	t.Helper()
	lastRDS, lastCDS := -1, -1
	for i, r := range responses {
		switch {
		case strings.HasPrefix(r, "RDS"):
			lastRDS = i
		case strings.HasPrefix(r, "CDS"):
			lastCDS = i
		}
	}
	if lastRDS < 0 || lastCDS < lastRDS {
		t.Errorf("the last cluster update (#%d) came before the last route update (#%d): %q", lastCDS, lastRDS, responses)
	}
}

// A Gateway server moving from port 8080 to 8081: the gateway's listener
// on the new port must serve before the one on the old port goes, and
// back again.
func TestMakeBeforeBreakListenerPortMove(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e, err := xdstest.RunEnvoy(ctx, ts.conn, gatewayNode, delta)
			if err != nil {
				t.Fatal(err)
			}
			listenerOn := func(port string) func(xdstest.State) bool {
				return func(s xdstest.State) bool {
					return len(s.Listeners) == 1 && strings.HasSuffix(s.Listeners[0], "_"+port)
				}
			}
			e.Wait(t, "the listener on 8080", listenerOn("8080"))
			ts.apply(testMesh{subset: "v1", gatewayPort: 8081}.snapshot(t))
			e.Wait(t, "the listener on 8081 alone", listenerOn("8081"))
			ts.apply(testMesh{subset: "v1"}.snapshot(t))
			e.Wait(t, "the listener on 8080 alone", listenerOn("8080"))

			history := e.ServingHistory()
			started := false
			for i, serving := range history {
				if len(serving) > 0 {
					started = true
				} else if started {
					t.Errorf("after response %d (%s) no listener served: %q", i, e.Responses()[i], e.Responses())
				}
			}
			for _, v := range e.Violations() {
				t.Error(v)
			}
		})
	}
}

// A proxy that stops answering must not pin what it no longer needs: after
// the grace, the old subset's cluster goes even though the proxy never
// ACKed the routes that stopped using it.
func TestMakeBeforeBreakGraceForASilentProxy(t *testing.T) {
	ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
	var fire func()
	ts.cache.afterFunc = func(_ time.Duration, f func()) func() bool { fire = f; return func() bool { return true } }
	c := ts.clientFor(t, sleepNode)
	if err := c.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	accept(t, c, recv(t, c))
	if err := c.Subscribe(resourcev3.RouteType, "http_proxy"); err != nil {
		t.Fatal(err)
	}
	accept(t, c, recv(t, c), "http_proxy")

	ts.apply(testMesh{subset: "v2"}.snapshot(t))
	clusters := recv(t, c)
	if !hasResource(clusters, subsetCluster("v1")) || !hasResource(clusters, subsetCluster("v2")) {
		t.Fatalf("first response of the switch: want clusters of v1 (kept) and v2 (new), got %v", resourceNames(clusters))
	}
	accept(t, c, clusters)
	routes := recv(t, c)
	if routes.GetTypeUrl() != resourcev3.RouteType {
		t.Fatalf("after the clusters, want the routes, got %s", routes.GetTypeUrl())
	}
	// The routes are never ACKed. The server waits, keeping v1...
	waitFor(t, "the CDS ACK to park a watch", func() bool { return ts.parked(sleepNode) == 1 })
	if fire == nil {
		t.Fatal("no grace timer while the proxy owes an ACK")
	}
	// ...until the grace is over.
	fire()
	after := recv(t, c)
	if after.GetTypeUrl() != resourcev3.ClusterType || hasResource(after, subsetCluster("v1")) || !hasResource(after, subsetCluster("v2")) {
		t.Fatalf("after the grace: want clusters without v1, got %s %v", after.GetTypeUrl(), resourceNames(after))
	}
}
