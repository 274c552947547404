package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/telemetry"
	"github.com/pilotlight/pilotlight/xds"
)

func testSource(edges []telemetry.EdgeStats) Source {
	snap := (&discovery.Snapshot{
		Services: []*discovery.Service{{Meta: discovery.Meta{Name: "catalogue", Namespace: "shop"}, Hostname: "catalogue.shop.svc.cluster.local"}},
		Pods: []*discovery.Pod{
			{Meta: discovery.Meta{Name: "catalogue-v1", Namespace: "shop", Labels: map[string]string{"version": "v1"}}},
			{Meta: discovery.Meta{Name: "sleep", Namespace: "shop"}},
		},
		Problems: []discovery.Problem{{Source: "a.yaml#0", Kind: "VirtualService", Name: "shop/x", Reason: "bad"}},
	}).Seal()
	return Source{
		Snapshot: func() *discovery.Snapshot { return snap },
		Proxies:  func() []xds.ProxyStatus { return nil },
		Edges:    func() []telemetry.EdgeStats { return edges },
	}
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

func TestPageIsServedFromTheBinary(t *testing.T) {
	h := Handler(testSource(nil))
	for path, want := range map[string]string{"/ui/": "<svg id=\"graph\"", "/ui/app.js": "function drawGraph", "/ui/style.css": "svg#graph"} {
		rec := get(t, h, path)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s: %d, body without %q", path, rec.Code, want)
		}
	}
	if rec := get(t, h, "/ui"); rec.Code != http.StatusFound {
		t.Errorf("GET /ui: %d, want a redirect to /ui/", rec.Code)
	}
}

// The graph draws two edges per triple (caller -> service -> workload),
// adding up triples that share one, with a weighted error rate.
func TestGraphEdges(t *testing.T) {
	svc := "catalogue.shop.svc.cluster.local"
	edges := []telemetry.EdgeStats{
		{EdgeKey: telemetry.EdgeKey{SourceWorkload: "shop/sleep", Service: svc, DestinationWorkload: "shop/catalogue-v1"},
			RequestsPerSecond: 1, Requests: 60, ErrorRate: 0.5, P99Millis: 10, MutualTLS: true, Protocol: "http"},
		{EdgeKey: telemetry.EdgeKey{SourceWorkload: "unknown", Service: svc, DestinationWorkload: "shop/catalogue-v1"},
			RequestsPerSecond: 3, Requests: 180, ErrorRate: 0, P99Millis: 25, Protocol: "http"},
	}
	rec := get(t, Handler(testSource(edges)), "/ui/api/graph")
	var g Graph
	if err := json.Unmarshal(rec.Body.Bytes(), &g); err != nil {
		t.Fatal(err)
	}
	byPair := map[string]Edge{}
	for _, e := range g.Edges {
		byPair[e.From+" -> "+e.To] = e
	}
	if e := byPair["shop/sleep -> "+svc]; e.RequestsPerSecond != 1 || e.ErrorRate != 0.5 || !e.MutualTLS {
		t.Errorf("sleep -> catalogue: %+v", e)
	}
	if e := byPair[svc+" -> shop/catalogue-v1"]; e.RequestsPerSecond != 4 || e.ErrorRate != 30.0/240 || e.P99Millis != 25 || e.MutualTLS {
		t.Errorf("catalogue -> catalogue-v1: %+v", e)
	}
	if len(g.Edges) != 3 || !g.MetricsEnabled || len(g.Problems) != 1 {
		t.Errorf("graph: %+v", g)
	}
	ids := map[string]bool{}
	for _, n := range g.Nodes {
		ids[n.ID] = true
	}
	for _, id := range []string{svc, "shop/sleep", "shop/catalogue-v1", "unknown"} {
		if !ids[id] {
			t.Errorf("no node %s", id)
		}
	}
}
