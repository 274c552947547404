package ui

import (
	"sort"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/telemetry"
	"github.com/pilotlight/pilotlight/xds"
)

// Source is what the page shows, read at each request.
type Source struct {
	Snapshot func() *discovery.Snapshot
	Proxies  func() []xds.ProxyStatus
	// Edges is nil when request metrics are off (serve --istio-metrics).
	Edges func() []telemetry.EdgeStats
}

// Node is a service or a workload.
type Node struct {
	ID        string `json:"id"`   // FQDN for a service, namespace/name for a workload
	Kind      string `json:"kind"` // "service" or "workload"
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Version   string `json:"version,omitempty"`
}

// Edge is a workload calling a service, or a service reaching a workload.
type Edge struct {
	From              string  `json:"from"`
	To                string  `json:"to"`
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	ErrorRate         float64 `json:"errorRate"`
	P99Millis         float64 `json:"p99Millis"`
	MutualTLS         bool    `json:"mutualTLS"`
	Protocol          string  `json:"protocol"`
}

// Graph is the body of /ui/api/graph.
type Graph struct {
	Nodes          []Node              `json:"nodes"`
	Edges          []Edge              `json:"edges"`
	MetricsEnabled bool                `json:"metricsEnabled"`
	Problems       []discovery.Problem `json:"problems"`
}

func buildGraph(src Source) Graph {
	g := Graph{Nodes: []Node{}, Edges: []Edge{}, Problems: []discovery.Problem{}, MetricsEnabled: src.Edges != nil}
	seen := map[string]bool{}
	add := func(n Node) {
		if !seen[n.ID] {
			seen[n.ID] = true
			g.Nodes = append(g.Nodes, n)
		}
	}
	if snap := src.Snapshot(); snap != nil {
		for _, svc := range snap.Services {
			add(Node{ID: svc.Hostname, Kind: "service", Name: svc.Name, Namespace: svc.Namespace})
		}
		for _, p := range snap.Pods {
			add(Node{ID: p.Namespace + "/" + p.WorkloadName(), Kind: "workload", Name: p.WorkloadName(), Namespace: p.Namespace, Version: p.Labels["version"]})
		}
		g.Problems = append(g.Problems, snap.Problems...)
	}
	if src.Edges == nil {
		return g
	}
	merged := map[[2]string]*edgeSum{}
	for _, e := range src.Edges() {
		for _, pair := range [][2]string{{e.SourceWorkload, e.Service}, {e.Service, e.DestinationWorkload}} {
			if pair[0] == "unknown" && pair[1] == "unknown" {
				continue
			}
			for _, id := range pair {
				if !seen[id] {
					add(Node{ID: id, Kind: "workload", Name: id})
				}
			}
			sum := merged[pair]
			if sum == nil {
				sum = &edgeSum{mtls: true}
				merged[pair] = sum
			}
			sum.add(e)
		}
	}
	for pair, sum := range merged {
		g.Edges = append(g.Edges, sum.edge(pair))
	}
	sort.Slice(g.Edges, func(i, j int) bool {
		if g.Edges[i].From != g.Edges[j].From {
			return g.Edges[i].From < g.Edges[j].From
		}
		return g.Edges[i].To < g.Edges[j].To
	})
	return g
}

// edgeSum adds up the triples that share one drawn edge.
type edgeSum struct {
	requests, errors float64
	rps, p99         float64
	mtls             bool
	protocol         string
}

func (s *edgeSum) add(e telemetry.EdgeStats) {
	s.rps += e.RequestsPerSecond
	s.requests += float64(e.Requests)
	s.errors += e.ErrorRate * float64(e.Requests)
	s.p99 = max(s.p99, e.P99Millis) // a bound: the slowest part's p99
	s.mtls = s.mtls && e.MutualTLS
	s.protocol = e.Protocol
}

func (s *edgeSum) edge(pair [2]string) Edge {
	e := Edge{From: pair[0], To: pair[1], RequestsPerSecond: s.rps, P99Millis: s.p99, MutualTLS: s.mtls, Protocol: s.protocol}
	if s.requests > 0 {
		e.ErrorRate = s.errors / s.requests
	}
	return e
}

// ProxyRow is one proxy on the proxies tab.
type ProxyRow struct {
	Pod          string            `json:"pod"`
	ID           string            `json:"id"`
	EnvoyVersion string            `json:"envoyVersion"`
	States       map[string]string `json:"states"` // CDS -> "SYNCED", ...
}

var typeColumns = []struct{ name, typeURL string }{
	{"CDS", resourcev3.ClusterType}, {"LDS", resourcev3.ListenerType}, {"EDS", resourcev3.EndpointType},
	{"RDS", resourcev3.RouteType}, {"SDS", resourcev3.SecretType},
}

func proxyRows(src Source) []ProxyRow {
	now := time.Now()
	rows := []ProxyRow{}
	for _, p := range src.Proxies() {
		row := ProxyRow{Pod: p.Pod, ID: p.ID, EnvoyVersion: p.EnvoyVersion, States: map[string]string{}}
		for _, c := range typeColumns {
			row.States[c.name] = p.Types[c.typeURL].Describe(now)
		}
		rows = append(rows, row)
	}
	return rows
}
