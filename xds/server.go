package xds

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	meshconfig "istio.io/api/mesh/v1alpha1"

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
	// MeshConfig is Istio's mesh-wide config (nil: Istio's defaults).
	MeshConfig *meshconfig.MeshConfig
	// Limits bound what a client can make the server hold (zero fields:
	// DefaultLimits). Give the gRPC server Limits.ServerOptions too.
	Limits Limits

	// Authenticator checks the token of every stream (auth.go). Without
	// one, every stream is refused.
	Authenticator Authenticator
	// CA issues each proven proxy its workload certificate (secrets.go),
	// valid WorkloadCertTTL, for an identity in TrustDomain.
	CA              CertificateAuthority
	WorkloadCertTTL time.Duration
	TrustDomain     string
	// Telemetry are the mesh's telemetry options: access logs for Istio's
	// metrics, tracing.
	Telemetry translate.TelemetryOptions
	// Instance names this control plane replica in /debug/proxies (the
	// CONTROL PLANE column of proxy-status); the host name when empty.
	Instance string
}

// Server turns mesh snapshots into per-proxy views and serves them over ADS.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	cache   *viewCache
	box     *mailbox
	ads     *adsService
	auth    *streamAuth
	secrets *workloadSecrets // nil without a CA
	now     func() time.Time

	// pushMu keeps a snapshot's push and a certificate renewal from
	// interleaving, so that a view never goes back to an older certificate.
	pushMu sync.Mutex

	// names are what requests' resource names decode into (codec.go).
	names nameTable

	mu       sync.Mutex
	mesh     *translate.Mesh
	memo     *marshalMemo
	problems *problemLog
}

// NewServer builds a Server; Run must be called for it to apply snapshots.
func NewServer(ctx context.Context, opts Options) *Server {
	if opts.VersionPrefix == "" {
		opts.VersionPrefix = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if opts.Instance == "" {
		opts.Instance, _ = os.Hostname()
	}
	if opts.MaxDebounce == 0 {
		opts.MaxDebounce = 10 * opts.Debounce
	}
	opts.Limits = opts.Limits.withDefaults()
	s := &Server{opts: opts, log: opts.Log, metrics: newMetrics(opts.Registry), box: newMailbox(), now: time.Now}
	s.cache = newViewCache(opts.Log, s.metrics, opts.Limits, opts.VersionPrefix, s.firstView)
	s.auth = newStreamAuth(opts.Authenticator, opts.TrustDomain, s.Snapshot, opts.Log, opts.Registry)
	if opts.CA != nil {
		s.secrets = newWorkloadSecrets(opts.CA, opts.WorkloadCertTTL, opts.Registry)
		s.auth.forget = s.secrets.forget
	}
	cb := &callbacks{cache: s.cache, metrics: s.metrics, auth: s.auth}
	// Ordered ADS: one channel per stream, so responses go out in the order
	// the cache hands them (clusters first; see order.go).
	s.ads = &adsService{xds: serverv3.NewServer(ctx, s.cache, cb, sotw.WithOrderedADS()), cache: s.cache}
	return s
}

// ServerOptions are the options of the gRPC server to Register on: the
// limits' (Limits.ServerOptions), and the codec that decodes requests'
// resource names into the server's own strings (codec.go).
func (s *Server) ServerOptions() []grpc.ServerOption {
	return append(s.opts.Limits.ServerOptions(), newRequestCodec(&s.names).option())
}

// Register adds the ADS service to a gRPC server (made with ServerOptions).
func (s *Server) Register(g *grpc.Server) { s.ads.register(g) }

// Update hands the server a new snapshot. It never blocks.
func (s *Server) Update(snap *discovery.Snapshot) { s.box.put(snap) }

// Run applies snapshots, debounced, until ctx is done.
func (s *Server) Run(ctx context.Context) {
	go s.runRenewals(ctx)
	debounce(ctx, s.box, s.opts.Debounce, s.opts.MaxDebounce, s.apply, s.endpointsOnly)
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
// would have rejected (not applied); and the generated resources that were
// not sent because they failed their checks (validate.go).
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
	out := append(append([]discovery.Problem{}, mesh.Problems()...), translate.PatchProblems(results)...)
	return append(out, s.problemLog().list()...)
}

// Proxies is the sync state of every stream of a connected proxy.
func (s *Server) Proxies() []ProxyStatus {
	out := s.cache.statuses()
	for i := range out {
		if p, err := translate.ParseNodeID(out[i].ID); err == nil {
			out[i].Pod = p.Namespace + "/" + p.PodName
		}
		out[i].ControlPlane = s.opts.Instance
	}
	return out
}

// apply recomputes the view of every known proxy from a new snapshot. When
// only endpoints changed, only the endpoint part of each view is rebuilt:
// translate rebuilds only the load assignments of services whose
// endpoints changed, each is marshaled and checked once, and every proxy
// that sees the same endpoints gets the same new type view.
func (s *Server) apply(snap *discovery.Snapshot) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	start := time.Now()
	s.mu.Lock()
	prev, prevMemo := s.mesh, s.memo
	// Nothing but VirtualServices (a canary's weights) and endpoints
	// changed: what they do not shape is the previous mesh's, the same
	// messages, and so the same Resources, not marshaled again.
	sameButRoutes := prev != nil && discovery.SameConfigButVirtualServices(prev.Snapshot(), snap)
	sameConfig := sameButRoutes && discovery.SameVirtualServices(prev.Snapshot(), snap)
	var mesh *translate.Mesh
	if sameButRoutes {
		mesh = translate.NewMeshFollowing(prev, snap, s.meshOptions()...)
	} else {
		mesh = translate.NewMesh(snap, s.meshOptions()...)
	}
	endpointsOnly := sameConfig && translate.SameServiceIdentities(prev, mesh)
	s.problems = newProblemLog(snap, s.problems, s.logProblem)
	memo := newMarshalMemo(s.problems)
	memo.inherit(prevMemo, sameButRoutes)
	if endpointsOnly {
		memo.carryLastFull()
	}
	s.mesh, s.memo = mesh, memo
	problems := s.problems
	s.mu.Unlock()
	defer memo.forgetInherited()

	s.metrics.configProblems.Set(float64(len(snap.Problems)))
	if !endpointsOnly {
		s.names.set(clusterNames(mesh.LoadAssignments()))
	}
	kind := "full"
	if endpointsOnly {
		kind = "endpoints"
	}
	nodes := s.cache.Nodes()
	ctx, span := startApplySpan(snap, kind, len(nodes)) // tracing.go
	defer span.End()
	// One goroutine: translating on more (tried) cost more CPU and time at
	// a thousand proxies, as it competes with the streams' writers.
	for nodeID, old := range nodes {
		s.push(ctx, mesh, memo, prev, snap, nodeID, old, endpointsOnly)
	}
	s.metrics.notServed.Set(float64(len(problems.list())))
	s.metrics.pushDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	s.log.Debug("applied mesh snapshot", "version", snap.Version, "kind", kind, "took", time.Since(start))
}

// push builds one proxy's view of a new mesh, and hands it to its streams.
func (s *Server) push(ctx context.Context, mesh *translate.Mesh, memo *marshalMemo, prev *translate.Mesh, snap *discovery.Snapshot, nodeID string, old *View, endpointsOnly bool) {
	var next *View
	var err error
	translateSpan := startProxySpan(ctx, "translate", nodeID)
	if endpointsOnly && old != nil && sameOwnPod(prev.Snapshot(), snap, old.Proxy) && !mesh.ListenersFollowEndpoints(old.Proxy) {
		next, err = old.withEndpoints(s.opts.VersionPrefix, memo, mesh.LoadAssignmentsFor(old.Proxy))
	} else {
		next, err = s.translate(mesh, memo, nodeID, old)
	}
	translateSpan.End()
	if err != nil {
		s.log.Error("cannot build view; proxy keeps its current config", "node", nodeID, "error", err)
		return
	}
	pushSpan := startProxySpan(ctx, "push", nodeID)
	s.cache.SetView(nodeID, next)
	pushSpan.End()
}

// endpointsOnly: snap differs from the snapshot served only in endpoints
// and pods.
func (s *Server) endpointsOnly(snap *discovery.Snapshot) bool {
	s.mu.Lock()
	mesh := s.mesh
	s.mu.Unlock()
	return mesh != nil && discovery.SameConfig(mesh.Snapshot(), snap)
}

// firstView builds the view of a proxy that just connected.
func (s *Server) firstView(nodeID string) (*View, error) {
	s.mu.Lock()
	mesh, memo := s.mesh, s.memo
	s.mu.Unlock()
	if mesh == nil {
		return nil, fmt.Errorf("no mesh snapshot yet")
	}
	return s.translate(mesh, memo, nodeID, nil)
}

// translate builds a proxy's view; prev, its current one, supplies the
// previous version of any resource that fails its checks.
func (s *Server) translate(mesh *translate.Mesh, memo *marshalMemo, nodeID string, prev *View) (*View, error) {
	start := time.Now()
	p, err := translate.ProxyFromNode(s.cache.Node(nodeID))
	if err != nil {
		return nil, err
	}
	res := mesh.ForProxy(p)
	if err := s.withWorkloadSecrets(nodeID, res); err != nil {
		return nil, err
	}
	v, err := buildView(s.opts.VersionPrefix, memo, p, res, prev)
	s.metrics.translateTime.Observe(time.Since(start).Seconds())
	return v, err
}

// problemLog is the current snapshot's list of resources not served.
func (s *Server) problemLog() *problemLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.problems
}

func (s *Server) logProblem(p discovery.Problem) {
	s.log.Warn("generated config not served", "kind", p.Kind, "name", p.Name, "reason", p.Reason)
}

func clusterNames(las []*endpoint.ClusterLoadAssignment) []string {
	out := make([]string, len(las))
	for i, la := range las {
		out[i] = la.GetClusterName()
	}
	return out
}

// sameOwnPod: the proxy's own pod (its inbound listeners) did not change.
func sameOwnPod(a, b *discovery.Snapshot, p translate.Proxy) bool {
	return discovery.SamePod(a.Pod(p.Namespace, p.PodName), b.Pod(p.Namespace, p.PodName))
}
