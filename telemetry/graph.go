package telemetry

import (
	"sort"
	"sync"
	"time"
)

// The mesh graph of the web view (/ui): who calls which service and which
// workload serves it, with the request rate, error rate and p99 latency of
// the last minute, and whether the calls are mutual TLS. It is fed by the
// same access log entries as the metrics, kept in memory per edge, one
// slot per second.

// durationBucketCount is len(durationBuckets), as a constant for arrays.
const durationBucketCount = 19

// graphWindow is how far back rates and percentiles look.
const graphWindow = 60 * time.Second

// EdgeKey names one edge: a source workload calling a service, or (Service
// set and DestinationWorkload set) a service's traffic reaching a workload.
type EdgeKey struct {
	SourceWorkload      string `json:"sourceWorkload"` // namespace/name, or "unknown"
	Service             string `json:"service"`        // FQDN, or "unknown"
	DestinationWorkload string `json:"destinationWorkload"`
}

// EdgeStats is one edge in the graph API.
type EdgeStats struct {
	EdgeKey
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	ErrorRate         float64 `json:"errorRate"` // share of 5xx answers and failed requests
	P99Millis         float64 `json:"p99Millis"`
	Requests          uint64  `json:"requests"` // in the window
	MutualTLS         bool    `json:"mutualTLS"`
	Protocol          string  `json:"protocol"`
}

// slot counts one second of one edge.
type slot struct {
	second   int64
	requests uint64
	errors   uint64
	buckets  [durationBucketCount + 1]uint64
}

type edge struct {
	slots    [int(graphWindow / time.Second)]slot
	mtls     bool
	protocol string
}

// graph holds every edge seen; old edges fall out of the answers when
// their window is empty.
type graph struct {
	mu    sync.Mutex
	now   func() time.Time
	edges map[EdgeKey]*edge
}

func newGraph(now func() time.Time) *graph {
	return &graph{now: now, edges: map[EdgeKey]*edge{}}
}

// observe adds one request (or TCP connection) to an edge.
func (g *graph) observe(k EdgeKey, protocol string, failed bool, millis float64, mtls bool) {
	sec := g.now().Unix()
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.edges[k]
	if e == nil {
		e = &edge{}
		g.edges[k] = e
	}
	s := &e.slots[sec%int64(len(e.slots))]
	if s.second != sec {
		*s = slot{second: sec}
	}
	s.requests++
	if failed {
		s.errors++
	}
	s.buckets[bucketOf(millis)]++
	e.mtls = e.mtls || mtls
	e.protocol = protocol
}

// markMutualTLS notes that an edge's connections are mutual TLS (the
// server's proxy saw a client certificate), without counting a request.
// The server's log may reach us before the client's: the edge is made
// then, and shows once the client's requests are counted.
func (g *graph) markMutualTLS(k EdgeKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.edges[k]
	if e == nil {
		e = &edge{}
		g.edges[k] = e
	}
	e.mtls = true
}

func bucketOf(millis float64) int {
	return sort.SearchFloat64s(durationBuckets, millis)
}

// Edges returns the edges with traffic in the last window, sorted.
func (g *graph) Edges() []EdgeStats {
	now := g.now().Unix()
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []EdgeStats
	for k, e := range g.edges {
		st := EdgeStats{EdgeKey: k, MutualTLS: e.mtls, Protocol: e.protocol}
		var buckets [durationBucketCount + 1]uint64
		var errors uint64
		for _, s := range e.slots {
			if s.second <= now-int64(len(e.slots)) || s.second > now || s.requests == 0 {
				continue
			}
			st.Requests += s.requests
			errors += s.errors
			for i, n := range s.buckets {
				buckets[i] += n
			}
		}
		if st.Requests == 0 {
			continue
		}
		st.RequestsPerSecond = float64(st.Requests) / graphWindow.Seconds()
		st.ErrorRate = float64(errors) / float64(st.Requests)
		st.P99Millis = quantile(buckets[:], st.Requests, 0.99)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.SourceWorkload != b.SourceWorkload {
			return a.SourceWorkload < b.SourceWorkload
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.DestinationWorkload < b.DestinationWorkload
	})
	return out
}

// quantile is the upper bound of the bucket holding the q-th request, as
// Prometheus' histogram_quantile would bound it (the last bucket: its lower
// bound).
func quantile(buckets []uint64, total uint64, q float64) float64 {
	rank := uint64(q*float64(total) + 0.5)
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, n := range buckets {
		seen += n
		if seen >= rank {
			if i < len(durationBuckets) {
				return durationBuckets[i]
			}
			return durationBuckets[len(durationBuckets)-1]
		}
	}
	return 0
}
