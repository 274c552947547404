package translate

import (
	"sort"
	"sync"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/pilotlight/pilotlight/discovery"
)

// Mesh is the translation of one snapshot. Resources that are the same for
// many proxies (outbound clusters, endpoints, the route table of a
// namespace) are built once, on first use, and shared by pointer, so the xds
// layer can marshal each of them once no matter how many proxies use it.
type Mesh struct {
	snap  *discovery.Snapshot
	rules *rules

	outboundClusters func() []*cluster.Cluster
	loadAssignments  func() []*endpoint.ClusterLoadAssignment

	mu          sync.Mutex
	proxyRoutes map[string]*route.RouteConfiguration // by proxy namespace
}

// Resources is one proxy's view, each list sorted by resource name.
type Resources struct {
	Clusters        []*cluster.Cluster
	LoadAssignments []*endpoint.ClusterLoadAssignment
	Listeners       []*listener.Listener
	Routes          []*route.RouteConfiguration
}

// NewMesh prepares the translation of a snapshot. It does no work yet.
func NewMesh(snap *discovery.Snapshot) *Mesh {
	m := &Mesh{snap: snap, rules: indexRules(snap), proxyRoutes: map[string]*route.RouteConfiguration{}}
	m.outboundClusters = sync.OnceValue(m.buildOutboundClusters)
	m.loadAssignments = sync.OnceValue(m.buildLoadAssignments)
	return m
}

// Snapshot returns the snapshot this mesh translates.
func (m *Mesh) Snapshot() *discovery.Snapshot { return m.snap }

// ForProxy builds the whole view of one proxy.
func (m *Mesh) ForProxy(p Proxy) *Resources {
	res := &Resources{
		LoadAssignments: m.loadAssignments(),
		Routes:          []*route.RouteConfiguration{m.proxyRouteConfig(p.Namespace)},
	}
	if pod := m.snap.Pod(p.Namespace, p.PodName); pod != nil && p.Type == Sidecar {
		inbound := m.inboundPorts(pod)
		// "inbound|…" sorts before "outbound|…", and both parts are sorted
		// already: no need to sort thousands of clusters per proxy.
		res.Clusters = inboundClusters(pod, inbound)
		res.Listeners = append(res.Listeners, outboundProxyListener(pod))
		res.Listeners = append(res.Listeners, inboundListeners(pod, inbound)...)
	}
	res.Clusters = append(res.Clusters, m.outboundClusters()...)
	sortByName(res.Listeners, func(l *listener.Listener) string { return l.Name })
	return res
}

// LoadAssignments is the endpoint-only view: what changes when pods come,
// go or change readiness while no rule or service changed.
func (m *Mesh) LoadAssignments() []*endpoint.ClusterLoadAssignment { return m.loadAssignments() }

func (m *Mesh) proxyRouteConfig(namespace string) *route.RouteConfiguration {
	m.mu.Lock()
	defer m.mu.Unlock()
	rc, ok := m.proxyRoutes[namespace]
	if !ok {
		rc = httpProxyRouteConfig(m.snap, m.rules, namespace)
		m.proxyRoutes[namespace] = rc
	}
	return rc
}

func sortByName[T any](items []T, name func(T) string) {
	sort.Slice(items, func(i, j int) bool { return name(items[i]) < name(items[j]) })
}
