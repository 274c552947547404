package translate

import (
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/discovery"
)

// The HTTP side of a gateway: its connection manager, and the virtual hosts
// that the bound VirtualServices' http routes fill.

// gatewayHTTPManager is the connection manager of a gateway's HTTP and
// HTTPS chains, its routes fetched over ADS (rds).
func gatewayHTTPManager(statPrefix, routeName string) *hcm.HttpConnectionManager {
	return &hcm.HttpConnectionManager{
		StatPrefix: statPrefix,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			RouteConfigName: routeName,
			ConfigSource:    adsConfigSource(),
		}},
		// strip_any_host_port: "shop.example.com:8080" is routed as
		// "shop.example.com", so a virtual host's domains need no port
		// (Istio's gateways do the same).
		StripPortMode: &hcm.HttpConnectionManager_StripAnyHostPort{StripAnyHostPort: true},
		// use_remote_address: the gateway is the mesh's edge; the client's
		// address, not a header it sent, goes into x-forwarded-for.
		UseRemoteAddress: wrapperspb.Bool(true),
		HttpFilters:      httpFilters(outbound),
	}
}

// virtualHosts of the servers that share one route table. A host name is
// served once per table (Envoy rejects a domain in two virtual hosts): the
// first server, then the first VirtualService (by namespace/name) to ask
// for it gets it.
func (b *gatewayBuilder) virtualHosts(servers []*gatewayServer) []*route.VirtualHost {
	claimed := map[string]bool{}
	var out []*route.VirtualHost
	for _, s := range servers {
		out = append(out, b.serverVirtualHosts(s, claimed)...)
	}
	sortByName(out, func(v *route.VirtualHost) string { return v.Name })
	return out
}

// serverVirtualHosts: one virtual host per host a bound VirtualService
// serves through this server, with the VirtualService's http routes for the
// server's port. httpsRedirect (tls.httpsRedirect) becomes require_tls ALL:
// Envoy answers every plain HTTP request with a 301 to https.
func (b *gatewayBuilder) serverVirtualHosts(s *gatewayServer, claimed map[string]bool) []*route.VirtualHost {
	var out []*route.VirtualHost
	for _, vs := range b.virtualServices {
		if !bindsTo(vs, s.gateway) {
			continue
		}
		var routes []*route.Route
		for _, host := range b.admittedHosts(s, vs.Namespace, gatewayVSHosts(vs)) {
			if claimed[host] {
				continue
			}
			if routes == nil {
				routes = b.httpRoutes(s, vs)
			}
			if len(routes) == 0 {
				break // no http route for this port: leave the host to others
			}
			claimed[host] = true
			out = append(out, gatewayVirtualHost(host, s.port(), routes))
		}
	}
	if s.spec.GetTls().GetHttpsRedirect() {
		out = append(out, redirectOnlyHosts(s, claimed)...)
		for _, vh := range out {
			vh.RequireTls = route.VirtualHost_ALL
		}
	}
	return out
}

// httpRoutes are a VirtualService's http routes as this gateway sees them:
// match.port is the server's port, and match.gateways may name the Gateway.
// The same route building as sidecars (virtualservice*.go).
func (b *gatewayBuilder) httpRoutes(s *gatewayServer, vs *discovery.VirtualService) []*route.Route {
	src := routeSource{namespace: b.pod.Namespace, labels: b.pod.Labels, gateways: gatewayNames(s.gateway, vs.Namespace)}
	return httpRoutes(b.snap, vs, s.port(), src)
}

// redirectOnlyHosts: a server with httpsRedirect redirects its hosts even
// where no VirtualService routes them (they usually bind to the HTTPS
// server only).
func redirectOnlyHosts(s *gatewayServer, claimed map[string]bool) []*route.VirtualHost {
	var out []*route.VirtualHost
	for _, host := range serverHostNames(s.spec) {
		if !claimed[host] {
			claimed[host] = true
			out = append(out, gatewayVirtualHost(host, s.port(), nil))
		}
	}
	return out
}

// gatewayVirtualHost is named host:port, as Istio names them.
func gatewayVirtualHost(host string, port uint32, routes []*route.Route) *route.VirtualHost {
	return &route.VirtualHost{Name: host + ":" + uitoa(port), Domains: []string{host}, Routes: routes}
}
