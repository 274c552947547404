package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/discovery"
)

// A sidecar's inbound side: the filter chains of one port where the mesh
// sends a pod traffic, by that port's mTLS mode (PeerAuthentication, see
// authn.PeerPolicies), as Istio builds them (filterchain_options.go):
//
//	STRICT      inbound|PORT|mtls       TLS, client certificate required
//	PERMISSIVE  inbound|PORT|mtls       transport_protocol tls + Istio ALPN
//	            inbound|PORT|plaintext  HTTP: raw_buffer; TCP: everything else
//	DISABLE     inbound|PORT|plaintext
//
// inboundChains is a function of (pod, port, mode) alone, so that both
// listener shapes use it: local mode's listener per pod IP and port (below)
// and, with iptables capture, one virtual inbound listener (0.0.0.0:15006)
// that adds destination_port to each chain's match. Authorization (RBAC)
// and JWT filters go into the HTTP chains through httpFilters, where the
// filterContext says whether the chain is mTLS (the peer's identity known).

// inboundPort is one port a sidecar accepts mesh traffic on.
type inboundPort struct {
	c    filterContext // the pod and its target port
	mode authn.MTLSMode
	tcp  bool // a byte stream (tcp_proxy) rather than HTTP
	// tcpRBAC are the network RBAC filters of the pod's AuthorizationPolicies
	// (rbac.go), before a TCP chain's tcp_proxy.
	tcpRBAC []*listener.Filter
}

func (m *Mesh) inboundPort(pod *discovery.Pod, port uint32, tcp bool, tcpRBAC []*listener.Filter) inboundPort {
	return inboundPort{
		// The pod's security policies are looked up once for every chain.
		c:       filterContext{dir: inbound, snap: m.snap, pod: pod, port: port, policies: policiesOf(m.snap, pod)},
		mode:    m.peers.Mode(pod, port),
		tcp:     tcp,
		tcpRBAC: tcpRBAC,
	}
}

// listenerFilters: PERMISSIVE picks a chain by transport protocol and ALPN,
// which tls_inspector reads from the ClientHello.
func (ib inboundPort) listenerFilters() []*listener.ListenerFilter {
	if ib.mode != authn.Permissive {
		return nil
	}
	return []*listener.ListenerFilter{tlsInspector()}
}

// inboundChains are the filter chains of the port, by mode.
func (ib inboundPort) inboundChains() []*listener.FilterChain {
	var out []*listener.FilterChain
	if ib.mode != authn.Disable {
		chain := ib.chain("mtls", true)
		chain.TransportSocket = inboundMTLS(!ib.tcp)
		if ib.mode == authn.Permissive {
			chain.FilterChainMatch = &listener.FilterChainMatch{TransportProtocol: "tls", ApplicationProtocols: inboundMTLSALPN}
		}
		out = append(out, chain)
	}
	if ib.mode != authn.Strict {
		chain := ib.chain("plaintext", false)
		if ib.mode == authn.Permissive && !ib.tcp {
			// HTTP takes plaintext only; TLS from outside the mesh matches
			// no chain and is closed. A TCP port passes it to the app.
			chain.FilterChainMatch = &listener.FilterChainMatch{TransportProtocol: "raw_buffer"}
		}
		out = append(out, chain)
	}
	return out
}

// chain is a filter chain to the app (cluster inbound|PORT||): a tcp_proxy,
// or an HTTP connection manager whose filters know whether the chain is mTLS.
func (ib inboundPort) chain(kind string, mtls bool) *listener.FilterChain {
	cluster := InboundClusterName(ib.c.port)
	name := "inbound|" + uitoa(ib.c.port) + "|" + kind
	if ib.tcp {
		// A connection the network RBAC filters deny is closed.
		filters := append(append([]*listener.Filter(nil), ib.tcpRBAC...), tcpProxyTo(cluster, cluster))
		return &listener.FilterChain{Name: name, Filters: filters}
	}
	c := ib.c
	c.mtls = mtls
	return &listener.FilterChain{Name: name, Filters: []*listener.Filter{hcmFilter(inboundHTTPManager(c))}}
}

// inboundHTTPManager routes every request to the app. On an mTLS chain it
// adds the caller's identity to x-forwarded-client-cert, as Istio's
// sidecars do (forward_client_cert_details APPEND_FORWARD with the peer's
// subject, URI and DNS SANs); on plaintext Envoy drops any such header.
func inboundHTTPManager(c filterContext) *hcm.HttpConnectionManager {
	cluster := InboundClusterName(c.port)
	manager := &hcm.HttpConnectionManager{
		StatPrefix: cluster,
		// route_config: inline, since only this sidecar needs it.
		RouteSpecifier: &hcm.HttpConnectionManager_RouteConfig{RouteConfig: &route.RouteConfiguration{
			Name: cluster,
			VirtualHosts: []*route.VirtualHost{{
				Name:    "inbound|http|" + uitoa(c.port),
				Domains: []string{"*"},
				Routes:  []*route.Route{forwardAll("default", cluster)},
			}},
		}},
		// normalize_path: as Istio's default (meshConfig.pathNormalization
		// BASE), RFC 3986 normalization before any filter, so that an
		// AuthorizationPolicy on /admin/* also holds for /public/../admin/x
		// and /%61dmin/x, and the app sees the path the policy judged.
		NormalizePath: wrapperspb.Bool(true),
		HttpFilters:   httpFilters(c),
	}
	if c.mtls {
		manager.ForwardClientCertDetails = hcm.HttpConnectionManager_APPEND_FORWARD
		manager.SetCurrentClientCertDetails = &hcm.HttpConnectionManager_SetCurrentClientCertDetails{
			Subject: wrapperspb.Bool(true), Uri: true, Dns: true,
		}
	}
	return manager
}

// inboundListeners (local mode) bind podIP:targetPort for each port the
// mesh sends the pod: HTTP ports and tcp (byte stream) ports.
func (m *Mesh) inboundListeners(pod *discovery.Pod, httpPorts, tcpPorts []uint32) []*listener.Listener {
	out := make([]*listener.Listener, 0, len(httpPorts)+len(tcpPorts))
	var tcpRBAC []*listener.Filter
	if len(tcpPorts) > 0 {
		tcpRBAC = tcpRBACFilters(m.snap.AuthorizationPoliciesFor(pod))
	}
	add := func(port uint32, tcp bool) {
		ib := m.inboundPort(pod, port, tcp, tcpRBAC)
		l := &listener.Listener{
			Name:             ListenerName(pod.IP, port),
			Address:          socketAddress(pod.IP, port),
			ListenerFilters:  ib.listenerFilters(),
			FilterChains:     ib.inboundChains(),
			TrafficDirection: core.TrafficDirection_INBOUND,
		}
		if l.ListenerFilters != nil {
			// A client that speaks first never shows a ClientHello: after
			// listener_filters_timeout it still gets the plaintext chain.
			l.ContinueOnListenerFiltersTimeout = true
		}
		out = append(out, l)
	}
	for _, p := range httpPorts {
		add(p, false)
	}
	for _, p := range tcpPorts {
		add(p, true)
	}
	return out
}
