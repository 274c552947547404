package translate

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/discovery"
)

// Mesh is the translation of one snapshot. Resources that are the same for
// many proxies (outbound clusters, endpoints, the route table of a
// namespace) are built once, on first use, and shared by pointer, so the xds
// layer can marshal each of them once no matter how many proxies use it.
type Mesh struct {
	snap  *discovery.Snapshot
	rules *rules
	opts  TelemetryOptions // telemetry.go
	// explain records provenance; nil except in a Mesh made by Explain.
	explain *provenance
	// trustDomain of the SPIFFE IDs clients expect of servers (mtls.go).
	trustDomain string
	// peers resolves each workload port's mTLS mode (PeerAuthentication).
	peers *authn.PeerPolicies
	// identities: host -> SPIFFE IDs its servers may present (mtls.go);
	// earlierIdentities: an earlier mesh's, carried (NewMeshFollowing).
	identities        func() *madeIdentities
	earlierIdentities *madeIdentities

	outboundClusters func() []*cluster.Cluster
	loadAssignments  func() []*endpoint.ClusterLoadAssignment
	// assignmentsByService: the load assignments, by service key (set by
	// loadAssignments); unchangedFrom: the previous mesh, until they are
	// made (NewMeshFollowing).
	assignmentsByService map[string][]*endpoint.ClusterLoadAssignment
	unchangedFrom        *Mesh
	// earlierClusters: the outbound clusters of an earlier mesh of the
	// same config but perhaps for VirtualServices (NewMeshFollowing);
	// madeClusters: this mesh's, once made (cluster.go). What is carried
	// from mesh to mesh is these, not the meshes: no chain of meshes is
	// kept alive.
	earlierClusters *madeClusters
	madeClusters    atomic.Pointer[madeClusters]
	// earlierHosts, hosts: the same for the virtual hosts of the sidecars'
	// outbound route tables (virtualhost_reuse.go).
	earlierHosts, hosts *virtualHosts
	// earlierPorts, ports: the same for pods' inbound ports (inbound_ports.go),
	// earlierListeners, listeners for sidecars' listeners (sidecar_listeners.go).
	earlierPorts, ports         *carried[*discovery.Pod, []discovery.InboundPort]
	earlierListeners, listeners *carried[*discovery.Pod, []*listener.Listener]

	// sourceSelectors: the match.sourceLabels of VirtualServices, whose
	// route tables then depend on the proxy (virtualservice_source.go).
	sourceSelectors func() []map[string]string

	// inbound: the inbound clusters of pods, by local address and ports
	// (inboundClustersFor); joined: the proxies' cluster lists made of
	// shared lists (cluster_lists.go).
	inbound, joined sync.Map

	mu          sync.Mutex
	proxyRoutes map[string]*route.RouteConfiguration // by routeSource.key: namespace + sourceLabels met
	collector   []*cluster.Cluster                   // tracing.go: the tracing collector's cluster

	// visible: proxy namespace -> *visibleConfig, what exportTo lets proxies
	// there see, built on first use (gateway_hosts.go).
	visible sync.Map
	// l4Ports: the mesh's TCP and TLS service ports, by number (tcp_sidecar.go).
	l4Ports func() []*l4ServicePort
	// envoyFilters: the snapshot's EnvoyFilters, decoded (envoyfilter.go).
	envoyFilters func() *compiledEnvoyFilters

	// registryOnly: outboundTrafficPolicy REGISTRY_ONLY (meshconfig.go).
	registryOnly bool
	// capture: what every captured sidecar shares (listener_capture.go).
	capture func() *captureShared

	// options made the Mesh; scopes are the Meshes of Sidecar scopes, by
	// Sidecar and proxy namespace (sidecar_scope.go). nil in those.
	options []Option
	scopes  *sync.Map
}

// Resources is one proxy's view, each list sorted by resource name.
type Resources struct {
	Clusters        []*cluster.Cluster
	LoadAssignments []*endpoint.ClusterLoadAssignment
	Listeners       []*listener.Listener
	Routes          []*route.RouteConfiguration
	Secrets         []*tlsv3.Secret // SDS: a gateway's certificates

	// Patches is what each EnvoyFilter patch that applies to the proxy did
	// (PatchProblems turns them into problems).
	Patches []PatchResult
}

// WithTrustDomain: the trust domain of the SPIFFE IDs that clients expect
// of servers (meshConfig.trustDomain, default cluster.local).
func WithTrustDomain(td string) Option { return func(m *Mesh) { m.trustDomain = td } }

// NewMesh prepares the translation of a snapshot. It does no work yet.
func NewMesh(snap *discovery.Snapshot, opts ...Option) *Mesh {
	m := &Mesh{snap: snap, rules: indexRules(snap), proxyRoutes: map[string]*route.RouteConfiguration{},
		trustDomain: authn.DefaultTrustDomain, peers: authn.NewPeerPolicies(snap.PeerAuthentications, snap.Root()),
		options: opts, scopes: &sync.Map{}, hosts: newCarried[vhostKey, madeVirtualHost](),
		ports: newCarried[*discovery.Pod, []discovery.InboundPort](), listeners: newCarried[*discovery.Pod, []*listener.Listener]()}
	for _, o := range opts {
		o(m)
	}
	m.identities = sync.OnceValue(m.buildServiceIdentities)
	m.capture = sync.OnceValue(m.buildCaptureShared)
	m.outboundClusters = sync.OnceValue(m.buildOutboundClusters)
	m.loadAssignments = sync.OnceValue(m.buildLoadAssignments)
	m.sourceSelectors = sync.OnceValue(func() []map[string]string { return sourceSelectors(snap.VirtualServices) })
	m.l4Ports = sync.OnceValue(func() []*l4ServicePort { return l4ServicePorts(snap) })
	m.envoyFilters = sync.OnceValue(func() *compiledEnvoyFilters { return compileEnvoyFilters(snap) })
	return m
}

// NewMeshFollowing is NewMesh for a snapshot whose config is prev's but
// perhaps for VirtualServices (discovery.SameConfigButVirtualServices):
// what that leaves as it was is prev's own, the same messages, to be
// marshaled and sent again by no one: the load assignments of services
// whose endpoints and pods did not change (buildLoadAssignments), while
// the service identities are the same the outbound clusters
// (buildOutboundClusters), and the virtual hosts of the route tables that
// no changed VirtualService routes (virtualhost_reuse.go), pods' inbound
// ports (inbound_ports.go) and sidecars' listeners (sidecar_listeners.go);
// and the identities of services whose endpoint lists are prev's
// (buildServiceIdentities). prev is not kept past that.
func NewMeshFollowing(prev *Mesh, snap *discovery.Snapshot, opts ...Option) *Mesh {
	m := NewMesh(snap, opts...)
	m.unchangedFrom, m.earlierClusters = prev, prev.clustersToCarry()
	m.earlierHosts = prev.hosts.carry(prev.earlierHosts)
	m.earlierPorts, m.earlierListeners = prev.ports.carry(prev.earlierPorts), prev.listeners.carry(prev.earlierListeners)
	m.earlierIdentities = prev.identities()
	return m
}

// Problems are what translation found wrong with the snapshot's config as
// a whole, whatever the proxy: EnvoyFilters whose patch values are not
// Envoy config, or that select no pod; Telemetry resources that trace to a
// provider this control plane does not have.
func (m *Mesh) Problems() []discovery.Problem {
	return append(append([]discovery.Problem{}, m.envoyFilters().problems...), telemetryProblems(m.snap, m.opts.Tracing)...)
}

// Snapshot returns the snapshot this mesh translates.
func (m *Mesh) Snapshot() *discovery.Snapshot { return m.snap }

// ForProxy builds the whole view of one proxy. Its outbound part (clusters,
// endpoints, route tables, outbound listeners) is of the scope its Sidecar
// gives it (sidecar_scope.go); the rest is the mesh's. Unless an
// EnvoyFilter patched them, proxies of the same clusters get the same
// Clusters list (cluster_lists.go), as they get the same LoadAssignments:
// shared, read them, never change them.
func (m *Mesh) ForProxy(p Proxy) *Resources {
	out := m.outboundFor(p)
	res := &Resources{
		LoadAssignments: out.loadAssignments(),
		Routes:          []*route.RouteConfiguration{out.proxyRouteConfig(out.proxySource(p))},
	}
	if pod := m.snap.Pod(p.Namespace, p.PodName); pod != nil && p.Type == Sidecar {
		ports := m.inboundPortsOf(pod)
		inbound := portNumbers(ports)
		// "inbound|…" sorts before "outbound|…", and both parts are sorted
		// already: no need to sort thousands of clusters per proxy.
		res.Clusters = m.inboundClustersFor(pod, inbound)
		if p.Captured() {
			out.addCaptureView(res, pod, ports, m)
		} else {
			res.Listeners = append(res.Listeners, m.sidecarListeners(pod, ports)...) // a copy of the list
			res.Listeners = append(res.Listeners, out.outboundTCPListeners(pod, inbound)...)
			m.explain.sidecarListeners(pod, res.Listeners) // explain_cluster.go
		}
	}
	if pod := m.snap.Pod(p.Namespace, p.PodName); pod != nil && p.Type == Router {
		gw := buildGatewayView(m.snap, pod, m.visibleFrom(pod.Namespace), m.explain)
		res.Listeners, res.Routes, res.Secrets = gw.listeners, gw.routes, gw.secrets
	}
	res.Clusters = m.joinClusters(res.Clusters, out.outboundClusters())
	m.addTelemetry(p, res) // telemetry.go: access logs and tracing, when on
	sortByName(res.Listeners, func(l *listener.Listener) string { return l.Name })
	if pod := m.snap.Pod(p.Namespace, p.PodName); pod != nil {
		if patches := m.envoyFilters().forPod(pod); len(patches) > 0 {
			// Last: EnvoyFilters patch what translation built.
			applyEnvoyFilters(res, proxyEnv{gateway: p.Type == Router, pod: pod, snap: m.snap}, patches)
		}
	}
	return res
}

// LoadAssignments are every outbound cluster's endpoints: what changes when
// pods come, go or change readiness while no rule or service changed.
func (m *Mesh) LoadAssignments() []*endpoint.ClusterLoadAssignment { return m.loadAssignments() }

// LoadAssignmentsFor is the endpoint-only view of one proxy: its share of
// LoadAssignments. Proxies that see the same endpoints get the same slice
// (shared: read it, never change it), as ForProxy gives them.
func (m *Mesh) LoadAssignmentsFor(p Proxy) []*endpoint.ClusterLoadAssignment {
	return m.loadAssignments()
}

// inboundClustersFor are the inbound clusters of a pod's ports, one list
// for all the pods with the same local address and ports (every real pod's
// is 127.0.0.1), so that they are marshaled once, not once per proxy, and
// a view of the same clusters is the same list. The list is clipped: what
// appends to it gets a copy.
func (m *Mesh) inboundClustersFor(pod *discovery.Pod, ports []uint32) []*cluster.Cluster {
	key := fmt.Sprint(pod.LocalAddress(), ports)
	if v, ok := m.inbound.Load(key); ok {
		return v.([]*cluster.Cluster)
	}
	v, _ := m.inbound.LoadOrStore(key, slices.Clip(inboundClusters(pod, ports)))
	return v.([]*cluster.Cluster)
}

func (m *Mesh) proxyRouteConfig(src routeSource) *route.RouteConfiguration {
	m.mu.Lock()
	defer m.mu.Unlock()
	rc, ok := m.proxyRoutes[src.key]
	if !ok {
		rc = httpProxyRouteConfig(m.snap, m.visibleFrom(src.namespace).rules, src, m.earlierHosts, m.hosts)
		m.proxyRoutes[src.key] = rc
	}
	return rc
}

func sortByName[T any](items []T, name func(T) string) {
	sort.Slice(items, func(i, j int) bool { return name(items[i]) < name(items[j]) })
}
