package translate

import (
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	originaldst "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/discovery"
)

// IPTABLES MODE (a captured sidecar, node metadata INTERCEPTION_MODE
// REDIRECT). `pilotlight init-capture` redirects the pod's outbound TCP to
// 15001 and its inbound TCP to 15006, so the app needs no proxy settings:
//
//   - virtualOutbound (0.0.0.0:15001, use_original_dst) hands each
//     connection to the listener of its original destination port,
//     0.0.0.0_PORT, which binds nothing (bind_to_port false). There HTTP is
//     routed by Host through the same virtual hosts as local mode's
//     http_proxy table, and TCP by destination address (the service's
//     ClusterIP, or a headless service's endpoints) and TLS by SNI, with the
//     same chain builders as local mode. A destination no service claims
//     goes to PassthroughCluster, or BlackHoleCluster under REGISTRY_ONLY.
//   - virtualInbound (0.0.0.0:15006, original_dst) has one set of chains per
//     port the mesh sends the pod, matched on destination_port: the same
//     chains local mode's inbound listeners have (inbound.go, by mTLS mode), and
//     they hand to the app on 127.0.0.1. Other ports pass through to the app
//     (InboundPassthroughCluster).
//
// Clusters, endpoints and virtual hosts are the ones local mode shares.

// Listener names and ports of a captured sidecar, as in Istio.
const (
	VirtualOutboundListenerName = "virtualOutbound"
	VirtualInboundListenerName  = "virtualInbound"
	VirtualOutboundPort         = OutboundProxyPort // 15001
	VirtualInboundPort          = 15006
	// HealthPort serves /healthz/ready from the bootstrap (Istio's 15021).
	HealthPort = 15021
	// StatsPort is Istio's Prometheus port, kept free of mesh listeners.
	StatsPort = 15090
)

// captureReserved: ports of the sidecar itself. A service port with one of
// these numbers gets no outbound listener in a captured sidecar (its
// traffic passes through): Envoy would refuse two listeners on one address.
var captureReserved = map[uint32]bool{AdminPort: true, VirtualOutboundPort: true, VirtualInboundPort: true, HealthPort: true, StatsPort: true}

// captureShared is what every captured sidecar of a mesh has in common.
type captureShared struct {
	clusters        []*cluster.Cluster // passthroughClusters
	virtualOutbound *listener.Listener
	// ports are the service ports that get an outbound listener, in order;
	// httpPorts those that some service speaks HTTP on.
	ports     []uint32
	httpPorts map[uint32]bool
	// endpointAddressed: a TCP service without a ClusterIP is matched by
	// its endpoints' addresses, so the listeners change with endpoints.
	endpointAddressed bool
}

func (m *Mesh) buildCaptureShared() *captureShared {
	c := &captureShared{clusters: passthroughClusters(), virtualOutbound: m.virtualOutboundListener(), httpPorts: map[uint32]bool{}}
	seen := map[uint32]bool{}
	for _, svc := range m.snap.Services {
		for _, sp := range svc.Ports {
			if !sp.ByteStream() && !isHTTP(sp) || captureReserved[sp.Port] {
				continue
			}
			if isHTTP(sp) {
				c.httpPorts[sp.Port] = true
			} else if !isTLSPort(sp) && svc.ClusterIP == "" {
				c.endpointAddressed = true
			}
			if !seen[sp.Port] {
				seen[sp.Port] = true
				c.ports = append(c.ports, sp.Port)
			}
		}
	}
	sortByName(c.ports, pad)
	return c
}

// ListenersFollowEndpoints reports whether the proxy's listeners depend on
// endpoint addresses (a captured sidecar in a mesh with a headless TCP
// service), so that an endpoint-only change must rebuild them too.
func (m *Mesh) ListenersFollowEndpoints(p Proxy) bool {
	return p.Captured() && m.outboundFor(p).capture().endpointAddressed
}

// addCaptureView fills in a captured sidecar's listeners, its route table
// and the passthrough clusters: the outbound ones of m (the proxy's scope),
// virtualInbound of the whole mesh.
func (m *Mesh) addCaptureView(res *Resources, pod *discovery.Pod, inbound []discovery.InboundPort, mesh *Mesh) {
	shared := m.capture()
	res.Clusters = mesh.joinClusters(shared.clusters, res.Clusters)
	res.Routes = []*route.RouteConfiguration{m.capturedRouteConfig(sidecarSource(pod.Namespace, pod.Labels, m.sourceSelectors()))}
	res.Listeners = append(res.Listeners, shared.virtualOutbound, mesh.virtualInboundListener(pod, inbound))
	res.Listeners = append(res.Listeners, m.capturedOutboundListeners(pod, shared)...)
}

// virtualOutboundListener receives every captured outbound connection and
// hands it to the listener of its original destination (use_original_dst).
// Without one, the connection passes through or, under REGISTRY_ONLY,
// fails. A connection to 15001 itself would loop: it goes to the black hole.
func (m *Mesh) virtualOutboundListener() *listener.Listener {
	return &listener.Listener{
		Name:           VirtualOutboundListenerName,
		Address:        socketAddress("0.0.0.0", VirtualOutboundPort),
		UseOriginalDst: wrapperspb.Bool(true),
		FilterChains: []*listener.FilterChain{{
			Name:             VirtualOutboundListenerName + "-blackhole",
			FilterChainMatch: &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(VirtualOutboundPort)},
			Filters:          []*listener.Filter{tcpProxyTo(BlackHoleCluster, BlackHoleCluster)},
		}},
		DefaultFilterChain: m.fallbackChain(),
		TrafficDirection:   core.TrafficDirection_OUTBOUND,
	}
}

// fallbackChain takes what no service claims (Istio's PassthroughFilterChain).
func (m *Mesh) fallbackChain() *listener.FilterChain {
	return &listener.FilterChain{
		Name:    "PassthroughFilterChain",
		Filters: []*listener.Filter{tcpProxyTo(m.fallbackCluster(), m.fallbackCluster())},
	}
}

// capturedOutboundListeners are the listeners virtualOutbound hands to,
// one per service port number: 0.0.0.0_PORT, binding nothing.
func (m *Mesh) capturedOutboundListeners(pod *discovery.Pod, shared *captureShared) []*listener.Listener {
	l4 := map[uint32]*l4ServicePort{}
	for _, g := range m.l4Ports() {
		l4[g.port] = g
	}
	b := &sidecarL4{
		snap:            m.snap,
		pod:             pod,
		virtualServices: m.visibleFrom(pod.Namespace).meshBound,
		src:             l4Source{namespace: pod.Namespace, labels: pod.Labels, gateways: []string{"mesh"}},
	}
	out := make([]*listener.Listener, 0, len(shared.ports))
	for _, port := range shared.ports {
		l := &listener.Listener{
			Name:             ListenerName("0.0.0.0", port),
			Address:          socketAddress("0.0.0.0", port),
			BindToPort:       wrapperspb.Bool(false),
			TrafficDirection: core.TrafficDirection_OUTBOUND,
		}
		if g := l4[port]; g != nil {
			l.FilterChains = b.capturedL4Chains(g, m.snap.Endpoints)
			if len(g.tls) > 0 {
				l.ListenerFilters = []*listener.ListenerFilter{tlsInspector()}
				// A server-first protocol sends nothing for the inspector
				// to read: let it through to the chains after the timeout.
				l.ContinueOnListenerFiltersTimeout = true
			}
		}
		if shared.httpPorts[port] {
			l.DefaultFilterChain = capturedHTTPChain(m.snap, pod, port)
		} else {
			l.DefaultFilterChain = m.fallbackChain()
		}
		out = append(out, l)
	}
	return out
}

// capturedL4Chains: first each plain TCP service by destination address
// (filter_chain_match.prefix_ranges), then the TLS chains by SNI as local
// mode builds them. An address claimed by an earlier service is left to it.
func (b *sidecarL4) capturedL4Chains(g *l4ServicePort, endpoints map[string][]*discovery.Endpoint) []*listener.FilterChain {
	var chains []*listener.FilterChain
	claimed := map[string]bool{}
	for _, svc := range g.tcp {
		var ranges []*core.CidrRange
		for _, addr := range serviceAddresses(svc, endpoints[svc.Key()]) {
			if !claimed[addr] {
				claimed[addr] = true
				ranges = append(ranges, &core.CidrRange{AddressPrefix: addr, PrefixLen: wrapperspb.UInt32(32)})
			}
		}
		if len(ranges) == 0 {
			continue // no address: a chain without prefix_ranges would take every destination
		}
		chain := b.tcpServiceChain(svc, g.port)
		chain.FilterChainMatch = &listener.FilterChainMatch{PrefixRanges: ranges}
		chains = append(chains, chain)
	}
	if len(g.tls) > 0 {
		claims := newSNIClaims()
		chains = append(chains, b.tlsRouteChains(g, claims)...)
		chains = append(chains, b.tlsServiceChains(g, claims)...)
	}
	return chains
}

// serviceAddresses are the destinations that mean this service: its
// ClusterIP, or for a headless service (none) its endpoints' addresses.
func serviceAddresses(svc *discovery.Service, endpoints []*discovery.Endpoint) []string {
	if svc.ClusterIP != "" {
		return []string{svc.ClusterIP}
	}
	out := make([]string, 0, len(endpoints))
	for _, ep := range endpoints {
		out = append(out, ep.Address)
	}
	return out
}

// capturedHTTPChain routes captured HTTP by Host through CapturedRouteName.
func capturedHTTPChain(snap *discovery.Snapshot, pod *discovery.Pod, port uint32) *listener.FilterChain {
	name := "outbound_0.0.0.0_" + uitoa(port)
	manager := &hcm.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			RouteConfigName: CapturedRouteName,
			ConfigSource:    adsConfigSource(),
		}},
		HttpFilters: httpFilters(filterContext{dir: outbound, snap: snap, pod: pod, port: port}),
	}
	return &listener.FilterChain{Name: name, Filters: []*listener.Filter{hcmFilter(manager)}}
}

// virtualInboundListener receives every captured inbound connection. The
// original_dst listener filter restores the destination, and the chains of
// each port the mesh sends the pod match on destination_port.
func (m *Mesh) virtualInboundListener(pod *discovery.Pod, ports []discovery.InboundPort) *listener.Listener {
	chains := []*listener.FilterChain{{
		Name:             VirtualInboundListenerName + "-blackhole",
		FilterChainMatch: &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(VirtualInboundPort)},
		Filters:          []*listener.Filter{tcpProxyTo(BlackHoleCluster, BlackHoleCluster)},
	}}
	httpPorts, tcpPorts := splitInboundPorts(ports)
	for _, port := range httpPorts {
		chains = append(chains, onDestinationPort(port, m.inboundPort(pod, port, false, nil).inboundChains())...)
	}
	if len(tcpPorts) > 0 {
		rbac := tcpRBACFilters(m.snap.AuthorizationPoliciesFor(pod))
		for _, port := range tcpPorts {
			chains = append(chains, onDestinationPort(port, m.inboundPort(pod, port, true, rbac).inboundChains())...)
		}
	}
	filters := []*listener.ListenerFilter{originalDst()}
	inspects := inspectsTLS(chains) // a PERMISSIVE port's chains match on TLS and ALPN
	if inspects {
		filters = append(filters, tlsInspector())
	}
	return &listener.Listener{
		// A client that speaks first never shows a ClientHello: after
		// listener_filters_timeout it still gets its port's chain.
		ContinueOnListenerFiltersTimeout: inspects,
		Name:                             VirtualInboundListenerName,
		Address:                          socketAddress("0.0.0.0", VirtualInboundPort),
		ListenerFilters:                  filters,
		FilterChains:                     chains,
		DefaultFilterChain: &listener.FilterChain{
			Name:    "InboundPassthroughFilterChain",
			Filters: []*listener.Filter{tcpProxyTo(InboundPassthroughCluster, InboundPassthroughCluster)},
		},
		TrafficDirection: core.TrafficDirection_INBOUND,
	}
}

// onDestinationPort narrows freshly built chains to one destination port
// (filter_chain_match.destination_port) and makes their names unique
// within the listener.
func onDestinationPort(port uint32, chains []*listener.FilterChain) []*listener.FilterChain {
	for _, c := range chains {
		if c.FilterChainMatch == nil {
			c.FilterChainMatch = &listener.FilterChainMatch{}
		}
		c.FilterChainMatch.DestinationPort = wrapperspb.UInt32(port)
		c.Name += "_" + uitoa(port)
	}
	return chains
}

// inspectsTLS: some chain matches on what only the tls_inspector reads.
func inspectsTLS(chains []*listener.FilterChain) bool {
	for _, c := range chains {
		m := c.GetFilterChainMatch()
		if m.GetTransportProtocol() != "" || len(m.GetServerNames()) > 0 || len(m.GetApplicationProtocols()) > 0 {
			return true
		}
	}
	return false
}

// originalDst is the listener filter that reads SO_ORIGINAL_DST, so that
// the connection's local address is where the client meant to go.
func originalDst() *listener.ListenerFilter {
	return &listener.ListenerFilter{
		Name:       wellknown.OriginalDestination,
		ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: mustAny(&originaldst.OriginalDst{})},
	}
}
