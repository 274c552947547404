package xds

import (
	"context"
	"testing"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// Stuck after cleanup (issue 12): whatever a proxy rejected, the next good
// config must reach it, even when it equals what the proxy acked before
// the bad one. Envoy applies a state-of-the-world response a listener or
// cluster at a time, so after a NACK it may hold neither what it acked nor
// what it rejected.

func TestAfterANackTheRestoredConfigIsSentAgain(t *testing.T) {
	for _, tc := range []struct {
		name              string
		typeURL, resource string
		bad               testMesh // the change the proxy rejects
	}{
		// The case: a bad local address renames the sidecar's
		// outbound listener; the restored file brings the old one back.
		{"listener renamed", resourcev3.ListenerType, "", testMesh{subset: "v1", sleepLocal: "127.30.0.9"}},
		// A route table whose content changed and changed back.
		{"route changed", resourcev3.RouteType, "http_proxy", testMesh{subset: "v2"}},
	} {
		t.Run("sotw/"+tc.name, func(t *testing.T) {
			good := testMesh{subset: "v1"}
			ts := newTestServer(t, good.snapshot(t))
			c := ts.clientFor(t, sleepNode)
			names := []string{}
			if tc.resource != "" {
				names = append(names, tc.resource)
			}
			if err := c.Subscribe(tc.typeURL, names...); err != nil {
				t.Fatal(err)
			}
			first := recv(t, c)
			accept(t, c, first, names...)

			ts.apply(tc.bad.snapshot(t))
			bad := recv(t, c)
			if err := c.Nack(bad, first.GetVersionInfo(), "rejected by the test", names...); err != nil {
				t.Fatal(err)
			}
			ts.apply(good.snapshot(t))
			again := recv(t, c)
			if again.GetVersionInfo() != first.GetVersionInfo() || len(again.GetResources()) != len(first.GetResources()) {
				t.Fatalf("after the NACK and the restore: got version %s with %v, want the first version %s again",
					again.GetVersionInfo(), resourceNames(again), first.GetVersionInfo())
			}
		})
	}
}

func TestAfterADeltaNackTheRestoredResourceIsSentAgain(t *testing.T) {
	good := testMesh{subset: "v1"}
	ts := newTestServer(t, good.snapshot(t))
	c, err := xdstest.OpenDelta(context.Background(), ts.conn, sleepNode)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(resourcev3.RouteType, []string{"http_proxy"}, nil); err != nil {
		t.Fatal(err)
	}
	first := recvDelta(t, c)
	if err := c.Ack(first); err != nil {
		t.Fatal(err)
	}
	ts.apply(testMesh{subset: "v2"}.snapshot(t))
	bad := recvDelta(t, c)
	if err := c.Nack(bad, "rejected by the test"); err != nil {
		t.Fatal(err)
	}
	// The NACK hold: the rejected version is not sent again.
	waitFor(t, "the NACK to park a watch", func() bool { return ts.parked(sleepNode) == 1 })
	if ts.inFlight(sleepNode) {
		t.Fatal("the rejected version was sent again")
	}
	ts.apply(good.snapshot(t))
	again := recvDelta(t, c)
	if len(again.GetResources()) != 1 || again.GetResources()[0].GetVersion() != first.GetResources()[0].GetVersion() {
		t.Fatalf("after the NACK and the restore: got %v, want http_proxy at its first version %s", again.GetResources(), first.GetResources()[0].GetVersion())
	}
	status := ts.Proxies()[0].Types[resourcev3.RouteType]
	if status.Nacked == "" || status.Error != "rejected by the test" {
		t.Fatalf("status after the NACK: %+v", status)
	}
}

func recvDelta(t testing.TB, c *xdstest.DeltaClient) *discoverypb.DeltaDiscoveryResponse {
	t.Helper()
	ch := make(chan *discoverypb.DeltaDiscoveryResponse, 1)
	errs := make(chan error, 1)
	go func() {
		r, err := c.Recv()
		if err != nil {
			errs <- err
			return
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		return r
	case err := <-errs:
		t.Fatal(err)
	case <-timeout():
		t.Fatal("no delta response within 5s")
	}
	return nil
}

// inFlight tells whether a response to the node is on its way.
func (ts *testServer) inFlight(nodeID string) bool {
	ts.cache.mu.Lock()
	defer ts.cache.mu.Unlock()
	for st := range ts.cache.nodes[nodeID].streams {
		for _, t := range st.types {
			if !t.idle() {
				return true
			}
		}
	}
	return false
}
