package xds

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/translate"
)

// Options configure a Server.
type Options struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// Debounce is how long the mesh must be quiet before a push; MaxDebounce
	// bounds how long a push may wait during a stream of changes.
	Debounce    time.Duration
	MaxDebounce time.Duration
	// VersionPrefix starts every version this process hands out, so that a
	// restarted control plane never reuses an old version by accident.
	VersionPrefix string
}

// Server turns mesh snapshots into per-proxy views and serves them over ADS.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	status  *statusTracker
	cache   *viewCache
	box     *mailbox
	xds     serverv3.Server

	mu   sync.Mutex
	mesh *translate.Mesh
	memo *marshalMemo
}

// NewServer builds a Server; Run must be called for it to apply snapshots.
func NewServer(ctx context.Context, opts Options) *Server {
	if opts.VersionPrefix == "" {
		opts.VersionPrefix = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if opts.MaxDebounce == 0 {
		opts.MaxDebounce = 10 * opts.Debounce
	}
	s := &Server{opts: opts, log: opts.Log, metrics: newMetrics(opts.Registry), status: newStatusTracker(), box: newMailbox()}
	s.cache = newViewCache(opts.Log, s.status, s.firstView)
	cb := &callbacks{log: opts.Log, status: s.status, metrics: s.metrics, cache: s.cache, now: time.Now,
		streams: map[int64]string{}, open: map[string]int{}}
	s.xds = serverv3.NewServer(ctx, s.cache, cb)
	return s
}

// Register adds the ADS service to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// Update hands the server a new snapshot. It never blocks.
func (s *Server) Update(snap *discovery.Snapshot) { s.box.put(snap) }

// Run applies snapshots, debounced, until ctx is done.
func (s *Server) Run(ctx context.Context) {
	debounce(ctx, s.box, s.opts.Debounce, s.opts.MaxDebounce, s.apply)
}

// Ready reports whether a snapshot has been applied.
func (s *Server) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mesh != nil
}

// Snapshot is the snapshot currently served, or nil.
func (s *Server) Snapshot() *discovery.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mesh == nil {
		return nil
	}
	return s.mesh.Snapshot()
}

// Problems are what translation found in the served config: EnvoyFilters
// that are not Envoy config or select no pod, and patches that matched
// nothing in any connected proxy they apply to, or whose result Envoy
// would have rejected (not applied).
func (s *Server) Problems() []discovery.Problem {
	s.mu.Lock()
	mesh := s.mesh
	s.mu.Unlock()
	if mesh == nil {
		return nil
	}
	results := map[string][]translate.PatchResult{}
	for id, v := range s.cache.Nodes() {
		if v != nil && len(v.Patches) > 0 {
			results[id] = v.Patches
		}
	}
	return append(append([]discovery.Problem{}, mesh.Problems()...), translate.PatchProblems(results)...)
}

// Proxies is the sync state of every connected proxy.
func (s *Server) Proxies() []ProxyStatus {
	out := s.status.snapshot()
	for i := range out {
		if p, err := translate.ParseNodeID(out[i].ID); err == nil {
			out[i].Pod = p.Namespace + "/" + p.PodName
		}
	}
	return out
}

// apply recomputes the view of every known proxy from a new snapshot. When
// only endpoints changed, only the endpoint part of each view is rebuilt.
func (s *Server) apply(snap *discovery.Snapshot) {
	start := time.Now()
	s.mu.Lock()
	prev := s.mesh
	mesh := translate.NewMesh(snap)
	s.mesh, s.memo = mesh, newMarshalMemo()
	memo := s.memo
	s.mu.Unlock()

	s.metrics.configProblems.Set(float64(len(snap.Problems)))
	endpointsOnly := prev != nil && discovery.SameConfig(prev.Snapshot(), snap)
	kind := "full"
	if endpointsOnly {
		kind = "endpoints"
	}
	for nodeID, old := range s.cache.Nodes() {
		var next *View
		var err error
		if endpointsOnly && old != nil && sameOwnPod(prev.Snapshot(), snap, old.Proxy) {
			next, err = old.withEndpoints(s.opts.VersionPrefix, memo, &translate.Resources{LoadAssignments: mesh.LoadAssignments()})
		} else {
			next, err = s.translate(mesh, memo, nodeID)
		}
		if err != nil {
			s.log.Error("cannot build view; proxy keeps its current config", "node", nodeID, "error", err)
			continue
		}
		s.cache.SetView(nodeID, next)
	}
	s.metrics.pushDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	s.log.Debug("applied mesh snapshot", "version", snap.Version, "kind", kind, "took", time.Since(start))
}

// firstView builds the view of a proxy that just connected.
func (s *Server) firstView(nodeID string) (*View, error) {
	s.mu.Lock()
	mesh, memo := s.mesh, s.memo
	s.mu.Unlock()
	if mesh == nil {
		return nil, fmt.Errorf("no mesh snapshot yet")
	}
	return s.translate(mesh, memo, nodeID)
}

func (s *Server) translate(mesh *translate.Mesh, memo *marshalMemo, nodeID string) (*View, error) {
	start := time.Now()
	p, err := translate.ParseNodeID(nodeID)
	if err != nil {
		return nil, err
	}
	v, err := buildView(s.opts.VersionPrefix, memo, p, mesh.ForProxy(p))
	s.metrics.translateTime.Observe(time.Since(start).Seconds())
	return v, err
}

// sameOwnPod: the proxy's own pod (its inbound listeners) did not change.
func sameOwnPod(a, b *discovery.Snapshot, p translate.Proxy) bool {
	return discovery.SamePod(a.Pod(p.Namespace, p.PodName), b.Pod(p.Namespace, p.PodName))
}
