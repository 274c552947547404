package translate

import (
	"fmt"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// A gateway proxy (Proxy.Type Router, Istio's ingress gateway; started with
// `pilotlight bootstrap --gateway`) is configured by the Gateways whose
// selector matches its pod's labels, whatever their namespace. Each server
// port becomes one listener on the gateway pod's IP (local mode: Istio
// binds 0.0.0.0; the name keeps Istio's ADDRESS_PORT form):
//
//	HTTP                  one filter chain, routes "http.<port>", shared by
//	                      every HTTP server on the port
//	HTTPS, mode SIMPLE    a chain per server, matched by SNI (its hosts),
//	                      terminating TLS; routes "https.<port>.<portName>.<gateway>.<namespace>"
//	HTTPS/TLS PASSTHROUGH a chain per tls route match block, matched by
//	                      SNI, tcp_proxy to the route's destinations
//	TCP                   one chain, tcp_proxy per the first tcp route
//
// The routes come from the VirtualServices that list the Gateway in
// spec.gateways and are visible (exportTo) from the gateway pod's namespace.

// gatewayView is what a gateway proxy gets besides the mesh's outbound
// clusters and endpoints.
type gatewayView struct {
	listeners []*listener.Listener
	routes    []*route.RouteConfiguration
	secrets   []*tlsv3.Secret
}

// gatewayServer is one server of a Gateway that selects the proxy's pod.
type gatewayServer struct {
	gateway *discovery.Gateway
	spec    *networking.Server
	kind    discovery.GatewayServerKind
}

func (s *gatewayServer) port() uint32 { return s.spec.GetPort().GetNumber() }

// gatewayBuilder accumulates the view of one gateway proxy.
type gatewayBuilder struct {
	snap            *discovery.Snapshot
	pod             *discovery.Pod
	virtualServices []*discovery.VirtualService // visible from the pod's namespace
	view            gatewayView
	secretNames     map[string]bool
	explain         *provenance // explain.go; nil when serving
}

// filterContext is what the HTTP filters of the gateway's listener on port see.
func (b *gatewayBuilder) filterContext(port uint32) filterContext {
	return filterContext{dir: outbound, snap: b.snap, pod: b.pod, port: port, gateway: true}
}

// buildGatewayView translates the Gateways that select pod; visible is
// what its namespace sees of the rules.
func buildGatewayView(snap *discovery.Snapshot, pod *discovery.Pod, visible *visibleConfig, explain *provenance) *gatewayView {
	b := &gatewayBuilder{
		explain:         explain,
		snap:            snap,
		pod:             pod,
		virtualServices: visible.virtualServices,
		secretNames:     map[string]bool{},
	}
	bound := map[uint32]bool{}
	for _, group := range serversByPort(selectedServers(snap.Gateways, pod)) {
		// Two server ports that the gateway Service maps to one container
		// port cannot both listen there: the first wins, and discovery
		// reports the other (CheckGatewayPorts).
		if port := snap.GatewayPort(pod, group[0].port()); !bound[port] {
			bound[port] = true
			b.addPort(group)
		}
	}
	// DestinationRule consistentHash → hash_policy, as on sidecars' routes.
	for _, rc := range b.view.routes {
		addHashPolicies(rc, visible.rules)
	}
	sortByName(b.view.routes, func(r *route.RouteConfiguration) string { return r.Name })
	sortByName(b.view.secrets, func(s *tlsv3.Secret) string { return s.Name })
	return &b.view
}

// selectedServers are the servers of the Gateways whose spec.selector
// matches the pod's labels (an empty selector matches every gateway), in
// Gateway then server order.
func selectedServers(gateways []*discovery.Gateway, pod *discovery.Pod) []*gatewayServer {
	var out []*gatewayServer
	for _, gw := range gateways {
		if !hasLabels(pod.Labels, gw.Spec.GetSelector()) {
			continue
		}
		for _, s := range gw.Spec.GetServers() {
			if kind := discovery.ServerKind(s); kind != discovery.GatewayUnsupported {
				out = append(out, &gatewayServer{gateway: gw, spec: s, kind: kind})
			}
		}
	}
	return out
}

// serversByPort groups servers by port, in port order. A listener is
// either HTTP, TLS (servers told apart by SNI) or one TCP server, so a
// server that cannot share its port with the first server on it is left
// out: validation reports that within one Gateway; across Gateways the
// first by namespace/name wins.
func serversByPort(servers []*gatewayServer) [][]*gatewayServer {
	index := map[uint32]int{}
	var groups [][]*gatewayServer
	for _, s := range servers {
		i, ok := index[s.port()]
		if !ok {
			index[s.port()] = len(groups)
			groups = append(groups, []*gatewayServer{s})
			continue
		}
		if discovery.SharesListener(groups[i][0].kind, s.kind) {
			groups[i] = append(groups[i], s)
		}
	}
	sortByName(groups, func(g []*gatewayServer) string { return pad(g[0].port()) })
	return groups
}

func (b *gatewayBuilder) addPort(servers []*gatewayServer) {
	var l *listener.Listener
	switch servers[0].kind {
	case discovery.GatewayHTTP:
		l = b.httpListener(servers)
	case discovery.GatewayHTTPS, discovery.GatewayPassthrough:
		l = b.tlsListener(servers)
	case discovery.GatewayTCP:
		l = b.tcpListener(servers[0])
	}
	if l != nil {
		b.view.listeners = append(b.view.listeners, l)
	}
}

// listener binds the gateway pod's IP at the container port that the
// server port maps to (discovery.GatewayPort: through the gateway
// Service's targetPort, as in Istio, else the server port itself). Envoy
// rejects a listener without filter chains, so there is none without
// chains.
func (b *gatewayBuilder) listener(serverPort uint32, chains []*listener.FilterChain) *listener.Listener {
	if len(chains) == 0 {
		return nil
	}
	port := b.snap.GatewayPort(b.pod, serverPort)
	return &listener.Listener{
		Name:             ListenerName(b.pod.IP, port),
		Address:          socketAddress(b.pod.IP, port),
		FilterChains:     chains,
		TrafficDirection: core.TrafficDirection_OUTBOUND,
	}
}

// httpListener serves every plain HTTP server on one port with one route
// table, http.<port>, as Istio does.
func (b *gatewayBuilder) httpListener(servers []*gatewayServer) *listener.Listener {
	port := servers[0].port()
	rc := &route.RouteConfiguration{Name: "http." + uitoa(port), VirtualHosts: b.virtualHosts(servers)}
	b.view.routes = append(b.view.routes, rc)
	bind := b.snap.GatewayPort(b.pod, port)
	manager := gatewayHTTPManager(b.filterContext(bind), ListenerName(b.pod.IP, bind), rc.Name)
	return b.listener(port, []*listener.FilterChain{{Name: rc.Name, Filters: []*listener.Filter{hcmFilter(manager)}}})
}

// tlsListener serves the TLS servers of one port, terminated and passed
// through, each chain picked by SNI (tls_inspector reads it).
func (b *gatewayBuilder) tlsListener(servers []*gatewayServer) *listener.Listener {
	claims := newSNIClaims()
	var chains []*listener.FilterChain
	for _, s := range servers {
		switch s.kind {
		case discovery.GatewayHTTPS:
			if c := b.httpsChain(s, claims); c != nil {
				chains = append(chains, c)
			}
		case discovery.GatewayPassthrough:
			chains = append(chains, b.passthroughChains(s, claims)...)
		}
	}
	l := b.listener(servers[0].port(), chains)
	if l != nil {
		l.ListenerFilters = []*listener.ListenerFilter{tlsInspector()}
	}
	return l
}

// httpsRouteName is Istio's: https.<port>.<port name>.<gateway>.<namespace>.
func httpsRouteName(s *gatewayServer) string {
	return fmt.Sprintf("https.%d.%s.%s.%s", s.port(), s.spec.GetPort().GetName(), s.gateway.Name, s.gateway.Namespace)
}

// httpsChain terminates TLS for one server (its hosts as server_names)
// and routes the requests like an HTTP server. A server whose Secret is
// missing (or, for MUTUAL, has no CA certificate) is skipped: discovery
// reported it, and a listener whose certificate never comes would never
// serve.
func (b *gatewayBuilder) httpsChain(s *gatewayServer, claims *sniClaims) *listener.FilterChain {
	mutual := s.spec.GetTls().GetMode() == networking.ServerTLSSettings_MUTUAL
	var secret *discovery.Secret
	if name := s.spec.GetTls().GetCredentialName(); name != "" {
		if secret = b.snap.Secret(b.pod.Namespace, name); secret == nil || (mutual && len(secret.CACert) == 0) {
			return nil
		}
	}
	match, ok := claims.match(serverHostNames(s.spec))
	if !ok {
		return nil
	}
	sdsName := ""
	if secret != nil {
		sdsName = SDSSecretName(s.spec.GetTls().GetCredentialName())
		b.addSecret(sdsName, secret, envoySecret)
		if mutual {
			b.addSecret(SDSCASecretName(sdsName), secret, envoyCASecret)
		}
	}
	rc := &route.RouteConfiguration{Name: httpsRouteName(s), VirtualHosts: b.virtualHosts([]*gatewayServer{s})}
	b.view.routes = append(b.view.routes, rc)
	bind := b.snap.GatewayPort(b.pod, s.port())
	manager := gatewayHTTPManager(b.filterContext(bind), ListenerName(b.pod.IP, bind), rc.Name)
	return &listener.FilterChain{
		Name:             rc.Name,
		FilterChainMatch: match,
		TransportSocket:  downstreamTLS(s.spec.GetTls(), sdsName),
		Filters:          []*listener.Filter{hcmFilter(manager)},
	}
}

// addSecret puts a Secret's certificate (envoySecret) or CA
// (envoyCASecret) in the view once, under its SDS name.
func (b *gatewayBuilder) addSecret(name string, s *discovery.Secret, resource func(string, *discovery.Secret) *tlsv3.Secret) {
	if !b.secretNames[name] {
		b.secretNames[name] = true
		b.view.secrets = append(b.view.secrets, resource(name, s))
	}
}

// passthroughChains: each match block of a bound VirtualService's tls
// routes becomes a chain on its sniHosts (those the server's hosts admit),
// with a tcp_proxy to the route's destinations; the TLS goes through
// untouched to the destination, which terminates it.
func (b *gatewayBuilder) passthroughChains(s *gatewayServer, claims *sniClaims) []*listener.FilterChain {
	var out []*listener.FilterChain
	for _, vs := range b.virtualServices {
		if !bindsTo(vs, s.gateway) {
			continue
		}
		src := b.l4Source(s.gateway, vs.Namespace)
		for i, r := range vs.Spec.GetTls() {
			for j, m := range r.GetMatch() {
				if !l4MatchApplies(m, s.port(), src) {
					continue
				}
				match, ok := claims.match(b.admittedHosts(s, vs.Namespace, m.GetSniHosts()))
				if !ok {
					continue
				}
				name := httpsRouteName(s) + "|" + l4ChainName(vs, "tls", i, j)
				out = append(out, &listener.FilterChain{
					Name:             name,
					FilterChainMatch: match,
					Filters:          b.tcpFilters(tcpProxyFilter(b.snap, vs.Namespace, name, s.port(), r.GetRoute())),
				})
			}
		}
	}
	return out
}

// tcpFilters are the network filters of a TCP or TLS passthrough chain:
// the gateway pod's AuthorizationPolicies as network RBAC, in action order
// (a denied connection is closed), then the tcp_proxy.
func (b *gatewayBuilder) tcpFilters(proxy *listener.Filter) []*listener.Filter {
	return append(tcpRBACFilters(b.snap.AuthorizationPoliciesFor(b.pod)), proxy)
}

// tcpListener forwards a TCP server's connections per the first tcp route
// of a bound VirtualService (whose hosts the server admits) that applies.
func (b *gatewayBuilder) tcpListener(s *gatewayServer) *listener.Listener {
	for _, vs := range b.virtualServices {
		if !bindsTo(vs, s.gateway) || len(b.admittedHosts(s, vs.Namespace, gatewayVSHosts(vs))) == 0 {
			continue
		}
		if r := tcpRouteFor(vs, s.port(), b.l4Source(s.gateway, vs.Namespace)); r != nil {
			name := fmt.Sprintf("tcp.%d.%s.%s", s.port(), vs.Name, vs.Namespace)
			chain := &listener.FilterChain{Name: name, Filters: b.tcpFilters(tcpProxyFilter(b.snap, vs.Namespace, name, s.port(), r.GetRoute()))}
			return b.listener(s.port(), []*listener.FilterChain{chain})
		}
	}
	return nil
}

// l4Source: a gateway answers to its own names in match.gateways.
func (b *gatewayBuilder) l4Source(gw *discovery.Gateway, vsNamespace string) l4Source {
	return l4Source{namespace: b.pod.Namespace, labels: b.pod.Labels, gateways: gatewayNames(gw, vsNamespace)}
}

// admittedHosts are the hosts, among those a VirtualService of vsNamespace
// asks for, that the server's hosts let it serve (narrowed to the server's
// where the server's are narrower), in order, once each.
func (b *gatewayBuilder) admittedHosts(s *gatewayServer, vsNamespace string, hosts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hosts {
		for _, serverHost := range s.spec.GetHosts() {
			if host, ok := serverAdmits(serverHost, s.gateway, vsNamespace, h); ok && !seen[host] {
				seen[host] = true
				out = append(out, host)
			}
		}
	}
	return out
}

// gatewayVSHosts are a VirtualService's hosts as a gateway serves them.
func gatewayVSHosts(vs *discovery.VirtualService) []string {
	out := make([]string, 0, len(vs.Spec.GetHosts()))
	for _, h := range vs.Spec.GetHosts() {
		out = append(out, gatewayVSHost(h, vs.Namespace))
	}
	return out
}
