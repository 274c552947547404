package telemetry

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestDurationBucketCount(t *testing.T) {
	if len(durationBuckets) != durationBucketCount {
		t.Fatalf("durationBucketCount %d, want len(durationBuckets) %d", durationBucketCount, len(durationBuckets))
	}
}

func TestGraphRatesAndWindow(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	g := newGraph(clock.now)
	k := EdgeKey{SourceWorkload: "sock-shop/sleep", Service: "catalogue.sock-shop.svc.cluster.local"}
	for i := 0; i < 90; i++ {
		g.observe(k, "http", false, 3, false) // 3 ms: bucket 5
	}
	for i := 0; i < 9; i++ {
		g.observe(k, "http", true, 40, true) // 40 ms: bucket 50
	}
	g.observe(k, "http", false, 200, false) // the slowest 1%: bucket 250
	clock.t = clock.t.Add(30 * time.Second)
	edges := g.Edges()
	if len(edges) != 1 {
		t.Fatalf("edges: %v", edges)
	}
	e := edges[0]
	if e.Requests != 100 || e.RequestsPerSecond != 100.0/60 || e.ErrorRate != 0.09 || !e.MutualTLS {
		t.Errorf("edge %+v", e)
	}
	if e.P99Millis != 50 {
		t.Errorf("p99 = %v, want 50 (the 99th of 100 requests is in the 50 ms bucket)", e.P99Millis)
	}
	// A minute later the window is empty and the edge is gone.
	clock.t = clock.t.Add(31 * time.Second)
	if edges := g.Edges(); len(edges) != 0 {
		t.Errorf("after the window: %v", edges)
	}
	// Slots are reused: new traffic counts only itself.
	g.observe(k, "http", false, 1, false)
	if edges := g.Edges(); len(edges) != 1 || edges[0].Requests != 1 {
		t.Errorf("after reuse: %+v", edges)
	}
}

// The server's side may report first: the mTLS it saw is kept for the
// client's requests that follow, and an edge with no request yet is not
// shown.
func TestGraphMutualTLSBeforeRequests(t *testing.T) {
	clock := &fakeClock{t: time.Unix(2_000_000, 0)}
	g := newGraph(clock.now)
	k := EdgeKey{SourceWorkload: "shop/a", Service: "b.shop.svc.cluster.local", DestinationWorkload: "shop/b-v1"}
	g.markMutualTLS(k)
	if edges := g.Edges(); len(edges) != 0 {
		t.Fatalf("an edge without requests is shown: %+v", edges)
	}
	g.observe(k, "http", false, 1, false)
	if edges := g.Edges(); len(edges) != 1 || !edges[0].MutualTLS {
		t.Fatalf("edges: %+v", edges)
	}
}
