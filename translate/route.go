package translate

import (
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/pilotlight/pilotlight/discovery"
)

// httpProxyRouteConfig is the route table of the outbound HTTP proxy for
// sidecars in one namespace (src.namespace; src.labels for sourceLabels):
// one virtual host per HTTP service port.
// A virtual host earlier (a previous mesh's, made the same way) has is
// taken as it is; each one made is kept in made.
func httpProxyRouteConfig(snap *discovery.Snapshot, r *rules, src routeSource, earlier, made *virtualHosts) *route.RouteConfiguration {
	rc := &route.RouteConfiguration{Name: HTTPProxyRouteName}
	// Envoy rejects a table where two virtual hosts share a domain; only a
	// ClusterIP given twice (in a folder) could repeat one: the first keeps it.
	taken := map[string]bool{}
	for _, svc := range snap.Services {
		for _, port := range svc.Ports {
			if !isHTTP(port) {
				continue
			}
			var domains []string
			for _, d := range proxyDomains(svc, port.Port, src.namespace) {
				if !taken[d] {
					taken[d] = true
					domains = append(domains, d)
				}
			}
			key, vs := vhostKey{service: svc.Key(), port: port.Port, source: src.key}, r.virtualServiceFor(svc.Hostname)
			vh := findVirtualHost(earlier, key, vs, domains)
			if vh == nil || src.explain != nil {
				vh = &route.VirtualHost{
					Name:    svc.Hostname + ":" + uitoa(port.Port),
					Domains: domains,
					Routes:  serviceRoutes(snap, r, svc, port.Port, src),
				}
				// DestinationRule consistentHash → RouteAction.hash_policy, on
				// the routes to hashing clusters (destinationrule_lb.go).
				addVirtualHostHashPolicies(vh, r)
			}
			made.put(key, madeVirtualHost{vs: vs, vh: vh})
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
	}
	sortByName(rc.VirtualHosts, func(v *route.VirtualHost) string { return v.Name })
	return rc
}

// proxyDomains are the Host values that reach a service port through the
// HTTP proxy: the FQDN, name.namespace.svc, name.namespace and, from the
// service's own namespace, the short name; then its ClusterIP (a captured
// client may dial it by address); each with ":port". A client omits the
// port only for 80, so only port 80 also answers to bare names.
// (Envoy rejects a route table where two virtual hosts share a domain; the
// short name of another namespace's service would collide, so it is left out.)
func proxyDomains(svc *discovery.Service, port uint32, namespace string) []string {
	names := []string{svc.Hostname, svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace}
	if svc.Namespace == namespace {
		names = append(names, svc.Name)
	}
	if svc.ClusterIP != "" {
		names = append(names, svc.ClusterIP)
	}
	var domains []string
	for _, n := range names {
		domains = append(domains, n+":"+uitoa(port))
		if port == 80 {
			domains = append(domains, n)
		}
	}
	return domains
}

// serviceRoutes are the routes of one service port: its VirtualService's
// when it has one with rules for this port and this client, else (as in
// Istio, where such a VirtualService yields no virtual host) everything to
// the whole service.
func serviceRoutes(snap *discovery.Snapshot, r *rules, svc *discovery.Service, port uint32, src routeSource) []*route.Route {
	if vs := r.virtualServiceFor(svc.Hostname); vs != nil {
		if routes := httpRoutes(snap, vs, port, src); len(routes) > 0 {
			return routes
		}
	}
	whole := defaultRoute(OutboundClusterName(port, "", svc.Hostname))
	src.explain.defaultServiceRoute(whole, svc, port) // explain_route.go
	return []*route.Route{whole}
}

// isHTTP2 follows Istio's protocol selection for ports spoken to in
// HTTP/2: grpc, grpc-web, http2 or kubernetes.io/h2c (appProtocol, or the
// port name's prefix: "grpc-web-8080" reads as grpc, HTTP/2 too).
func isHTTP2(port discovery.ServicePort) bool {
	switch port.ProtocolName() {
	case "grpc", "grpc-web", "http2", "kubernetes.io/h2c":
		return true
	}
	return false
}

// isHTTP follows Istio's protocol selection (ServicePort.SpeaksHTTP).
func isHTTP(port discovery.ServicePort) bool { return port.SpeaksHTTP() }
