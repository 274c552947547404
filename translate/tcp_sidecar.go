package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/pilotlight/pilotlight/discovery"
)

// A sidecar's TCP and TLS service ports.
//
// LOCAL MODE: with iptables, an app's connection to a service's cluster IP
// is captured and matched by destination. Here there is no capture and no
// service IP, so the sidecar listens on the pod's local address at each
// TCP service port: the app reaches a TCP service at localhost:servicePort.
// Consequences, which are the user's to avoid:
//   - a port the app listens on itself cannot also be an outbound port. The
//     pod's declared ports (and the ports the mesh sends it) are left out;
//     an undeclared one would make Envoy fail to bind.
//   - services that share a plain TCP port number share the listener, and
//     nothing in a plain TCP connection says which service was meant: the
//     first service (by namespace/name) gets them, and discovery reports
//     the others (CheckSharedTCPPorts). TLS services on one port are told
//     apart by SNI (the client's tls.Config.ServerName).
// Ports 15000 and 15001 (the sidecar's admin and HTTP proxy) are skipped.

// l4ServicePort is one port number and the services that have a TCP
// (opaque) or TLS port with that number.
type l4ServicePort struct {
	port     uint32
	tcp, tls []*discovery.Service
}

// isTLSPort: Istio's protocols for TLS the mesh does not terminate.
func isTLSPort(port discovery.ServicePort) bool { return port.IsTLSPassthrough() }

// l4ServicePorts groups the mesh's TCP and TLS service ports by number, in
// port order; services keep snapshot order.
func l4ServicePorts(snap *discovery.Snapshot) []*l4ServicePort {
	byPort := map[uint32]*l4ServicePort{}
	var out []*l4ServicePort
	for _, svc := range snap.Services {
		for _, sp := range svc.Ports {
			if !sp.ByteStream() {
				continue
			}
			g := byPort[sp.Port]
			if g == nil {
				g = &l4ServicePort{port: sp.Port}
				byPort[sp.Port] = g
				out = append(out, g)
			}
			if isTLSPort(sp) {
				g.tls = append(g.tls, svc)
			} else {
				g.tcp = append(g.tcp, svc)
			}
		}
	}
	sortByName(out, func(g *l4ServicePort) string { return pad(g.port) })
	return out
}

// sidecarL4 builds the outbound TCP and TLS listeners of one sidecar.
type sidecarL4 struct {
	snap            *discovery.Snapshot
	pod             *discovery.Pod
	virtualServices []*discovery.VirtualService // visible from the pod's namespace, mesh-bound
	src             l4Source
}

// outboundTCPListeners are a sidecar's listeners for the TCP and TLS
// service ports of the mesh; appPorts are the ports its app listens on.
func (m *Mesh) outboundTCPListeners(pod *discovery.Pod, appPorts []uint32) []*listener.Listener {
	ports := m.l4Ports()
	if len(ports) == 0 {
		return nil
	}
	b := &sidecarL4{
		snap:            m.snap,
		pod:             pod,
		virtualServices: m.visibleFrom(pod.Namespace).meshBound,
		src:             l4Source{namespace: pod.Namespace, labels: pod.Labels, gateways: []string{"mesh"}},
	}
	skip := map[uint32]bool{AdminPort: true, OutboundProxyPort: true}
	for _, p := range appPorts {
		skip[p] = true
	}
	for _, cp := range pod.ContainerPorts {
		skip[cp.Port] = true
	}
	var out []*listener.Listener
	for _, g := range ports {
		if skip[g.port] {
			continue
		}
		if l := b.listener(g); l != nil {
			out = append(out, l)
		}
	}
	return out
}

// listener is the outbound listener of one port: SNI chains for the TLS
// services (tls routes first, then each service's own names), and one
// catch-all chain for the first plain TCP service.
func (b *sidecarL4) listener(g *l4ServicePort) *listener.Listener {
	addr := b.pod.LocalAddress()
	claims := newSNIClaims()
	var chains []*listener.FilterChain
	if len(g.tls) > 0 {
		chains = append(chains, b.tlsRouteChains(g, claims)...)
		chains = append(chains, b.tlsServiceChains(g, claims)...)
	}
	if len(g.tcp) > 0 && claims.claimCatchAll() {
		chains = append(chains, b.tcpServiceChain(g.tcp[0], g.port))
	}
	if len(chains) == 0 {
		return nil
	}
	l := &listener.Listener{
		Name:             ListenerName(addr, g.port),
		Address:          socketAddress(addr, g.port),
		FilterChains:     chains,
		TrafficDirection: core.TrafficDirection_OUTBOUND,
	}
	if len(g.tls) > 0 {
		l.ListenerFilters = []*listener.ListenerFilter{tlsInspector()}
	}
	return l
}

// tlsRouteChains: each match block of a tls route that applies here
// becomes a chain on its sniHosts (filter_chain_match.server_names) with a
// tcp_proxy to the route's destinations.
func (b *sidecarL4) tlsRouteChains(g *l4ServicePort, claims *sniClaims) []*listener.FilterChain {
	var out []*listener.FilterChain
	for _, vs := range b.virtualServices {
		if !b.routesPort(vs, g) {
			continue
		}
		for i, r := range vs.Spec.GetTls() {
			for j, m := range r.GetMatch() {
				if !l4MatchApplies(m, g.port, b.src) {
					continue
				}
				match, ok := claims.match(m.GetSniHosts())
				if !ok {
					continue
				}
				name := l4ChainName(vs, "tls", i, j)
				out = append(out, &listener.FilterChain{
					Name:             name,
					FilterChainMatch: match,
					Filters:          []*listener.Filter{tcpProxyFilter(b.snap, vs.Namespace, name, g.port, r.GetRoute())},
				})
			}
		}
	}
	return out
}

// routesPort: a VirtualService's tls routes are for a port when one of its
// hosts is a service with a TLS port of that number (a match.port narrows
// it further, in l4MatchApplies).
func (b *sidecarL4) routesPort(vs *discovery.VirtualService, g *l4ServicePort) bool {
	for _, h := range vs.Spec.GetHosts() {
		host := discovery.ResolveHost(h, vs.Namespace)
		for _, svc := range g.tls {
			if svc.Hostname == host {
				return true
			}
		}
	}
	return false
}

// tlsServiceChains: a TLS service without a tls route for a name is
// reached by its own names as SNI, passed through to the whole service.
func (b *sidecarL4) tlsServiceChains(g *l4ServicePort, claims *sniClaims) []*listener.FilterChain {
	var out []*listener.FilterChain
	for _, svc := range g.tls {
		match, ok := claims.match(serviceSNINames(svc, b.pod.Namespace))
		if !ok {
			continue
		}
		cluster := OutboundClusterName(g.port, "", svc.Hostname)
		out = append(out, &listener.FilterChain{
			Name:             cluster,
			FilterChainMatch: match,
			Filters:          []*listener.Filter{tcpProxyTo(cluster, cluster)},
		})
	}
	return out
}

// serviceSNINames are the names a client may put in SNI for a service: the
// FQDN, name.namespace.svc, name.namespace and, from its own namespace, the
// short name (as the HTTP proxy's domains; a short name of another
// namespace would be ambiguous).
func serviceSNINames(svc *discovery.Service, namespace string) []string {
	names := []string{svc.Hostname, svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace}
	if svc.Namespace == namespace {
		names = append(names, svc.Name)
	}
	return names
}

// tcpServiceChain is the catch-all chain of a plain TCP service: its
// VirtualService's first tcp route that applies, else the whole service.
func (b *sidecarL4) tcpServiceChain(svc *discovery.Service, port uint32) *listener.FilterChain {
	cluster := OutboundClusterName(port, "", svc.Hostname)
	chain := &listener.FilterChain{Name: cluster, Filters: []*listener.Filter{tcpProxyTo(cluster, cluster)}}
	for _, vs := range b.virtualServices {
		if !hasHost(vs, svc.Hostname) {
			continue
		}
		if r := tcpRouteFor(vs, port, b.src); r != nil {
			chain.Filters = []*listener.Filter{tcpProxyFilter(b.snap, vs.Namespace, cluster, port, r.GetRoute())}
			break
		}
	}
	return chain
}

// hasHost: one of the VirtualService's hosts resolves to host.
func hasHost(vs *discovery.VirtualService, host string) bool {
	for _, h := range vs.Spec.GetHosts() {
		if discovery.ResolveHost(h, vs.Namespace) == host {
			return true
		}
	}
	return false
}

// splitInboundPorts sorts a pod's inbound ports into those the mesh sends
// HTTP to and those it sends a byte stream (TCP, or TLS the app
// terminates).
func splitInboundPorts(ports []discovery.InboundPort) (httpPorts, tcpPorts []uint32) {
	for _, p := range ports {
		if p.HTTP {
			httpPorts = append(httpPorts, p.Port)
		} else {
			tcpPorts = append(tcpPorts, p.Port)
		}
	}
	return httpPorts, tcpPorts
}
