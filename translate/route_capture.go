package translate

import (
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// CapturedRouteName is the route table of a captured sidecar's outbound
// HTTP listeners: the virtual hosts of http_proxy (the very same ones),
// plus a catch-all for hosts outside the mesh, which an explicit proxy
// never needs and captured traffic does.
const CapturedRouteName = "captured_http"

// capturedRouteConfig shares the virtual hosts of the namespace's
// http_proxy table; one table per route source, as that one.
func (m *Mesh) capturedRouteConfig(src routeSource) *route.RouteConfiguration {
	proxy := m.proxyRouteConfig(src)
	m.mu.Lock()
	defer m.mu.Unlock()
	key := CapturedRouteName + "\x00" + src.key
	if rc, ok := m.proxyRoutes[key]; ok {
		return rc
	}
	hosts := make([]*route.VirtualHost, 0, len(proxy.VirtualHosts)+1)
	hosts = append(append(hosts, proxy.VirtualHosts...), m.catchAllVirtualHost())
	rc := &route.RouteConfiguration{Name: CapturedRouteName, VirtualHosts: hosts}
	m.proxyRoutes[key] = rc
	return rc
}

// catchAllVirtualHost answers every other Host (domain "*"): Istio's
// allow_any, to PassthroughCluster, or under REGISTRY_ONLY its block_all,
// a 502 from the sidecar.
func (m *Mesh) catchAllVirtualHost() *route.VirtualHost {
	match := &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}}
	if m.registryOnly {
		return &route.VirtualHost{Name: "block_all", Domains: []string{"*"}, Routes: []*route.Route{{
			Name:   "block_all",
			Match:  match,
			Action: &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{Status: 502}},
		}}}
	}
	return &route.VirtualHost{Name: "allow_any", Domains: []string{"*"}, Routes: []*route.Route{{
		Name:  "allow_any",
		Match: match,
		Action: &route.Route_Route{Route: &route.RouteAction{
			ClusterSpecifier: &route.RouteAction_Cluster{Cluster: PassthroughCluster},
			Timeout:          durationpb.New(0),
		}},
	}}}
}
