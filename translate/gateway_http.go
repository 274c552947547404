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
func gatewayHTTPManager(c filterContext, statPrefix, routeName string) *hcm.HttpConnectionManager {
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
		NormalizePath:    wrapperspb.Bool(true), // see inboundFilterChains
		HttpFilters:      httpFilters(c),
	}
}

// virtualHosts of the servers that share one route table: one per host
// name, since Envoy rejects a domain in two virtual hosts. As Istio's
// gateways do, every bound VirtualService that serves a host adds its
// routes to that host's virtual host (server by server, VirtualServices in
// namespace/name order), and the catch-all routes go last, so that one
// team's "/" does not hide another team's "/api" on the same host.
func (b *gatewayBuilder) virtualHosts(servers []*gatewayServer) []*route.VirtualHost {
	t := vhostTable{port: servers[0].port(), byHost: map[string]*route.VirtualHost{}, added: map[vhostSource]bool{}}
	for _, s := range servers {
		b.addServerRoutes(s, &t)
	}
	out := make([]*route.VirtualHost, 0, len(t.byHost))
	for _, vh := range t.byHost {
		vh.Routes = catchAllLast(vh.Routes)
		out = append(out, vh)
	}
	sortByName(out, func(v *route.VirtualHost) string { return v.Name })
	return out
}

// vhostTable collects the virtual hosts of one route table.
type vhostTable struct {
	port   uint32
	byHost map[string]*route.VirtualHost
	// added: a VirtualService bound to two servers of one table (two
	// Gateways on one port) adds its routes to a host once.
	added map[vhostSource]bool
}

type vhostSource struct {
	host string
	vs   *discovery.VirtualService
}

// host is the virtual host of a host name, made on first use.
func (t *vhostTable) host(name string) *route.VirtualHost {
	vh := t.byHost[name]
	if vh == nil {
		vh = gatewayVirtualHost(name, t.port, nil)
		t.byHost[name] = vh
	}
	return vh
}

// addServerRoutes adds the http routes of the VirtualServices bound to a
// server to the virtual hosts of the hosts they serve through it (a host
// with no route for this port gets no virtual host from it).
// httpsRedirect (tls.httpsRedirect) becomes require_tls ALL on the
// server's virtual hosts, also those that no VirtualService routes (they
// usually bind to the HTTPS server only): Envoy answers every plain HTTP
// request with a 301 to https.
func (b *gatewayBuilder) addServerRoutes(s *gatewayServer, t *vhostTable) {
	var touched []*route.VirtualHost
	for _, vs := range b.virtualServices {
		if !bindsTo(vs, s.gateway) {
			continue
		}
		routes := b.httpRoutes(s, vs)
		if len(routes) == 0 {
			continue
		}
		for _, host := range b.admittedHosts(s, vs.Namespace, gatewayVSHosts(vs)) {
			vh := t.host(host)
			touched = append(touched, vh)
			if key := (vhostSource{host, vs}); !t.added[key] {
				t.added[key] = true
				vh.Routes = append(vh.Routes, routes...)
			}
		}
	}
	if s.spec.GetTls().GetHttpsRedirect() {
		for _, host := range serverHostNames(s.spec) {
			touched = append(touched, t.host(host))
		}
		for _, vh := range touched {
			vh.RequireTls = route.VirtualHost_ALL
		}
	}
}

// catchAllLast moves the catch-all routes to the end and keeps the order
// of the rest, as Istio's SortVHostRoutes does. Each VirtualService's own
// routes end at its first catch-all (httpRoutes), so within one
// VirtualService the order Envoy sees is unchanged.
func catchAllLast(routes []*route.Route) []*route.Route {
	out := make([]*route.Route, 0, len(routes))
	var catchAlls []*route.Route
	for _, r := range routes {
		if isCatchAll(r.Match) {
			catchAlls = append(catchAlls, r)
		} else {
			out = append(out, r)
		}
	}
	return append(out, catchAlls...)
}

// httpRoutes are a VirtualService's http routes as this gateway sees them:
// match.port is the server's port, and match.gateways may name the Gateway.
// The same route building as sidecars (virtualservice*.go).
func (b *gatewayBuilder) httpRoutes(s *gatewayServer, vs *discovery.VirtualService) []*route.Route {
	src := routeSource{namespace: b.pod.Namespace, labels: b.pod.Labels, gateways: gatewayNames(s.gateway, vs.Namespace)}
	return httpRoutes(b.snap, vs, s.port(), src)
}

// gatewayVirtualHost is named host:port, as Istio names them.
func gatewayVirtualHost(host string, port uint32, routes []*route.Route) *route.VirtualHost {
	return &route.VirtualHost{Name: host + ":" + uitoa(port), Domains: []string{host}, Routes: routes}
}
