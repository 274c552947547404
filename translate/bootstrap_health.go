package translate

import (
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// The kubelet probes a pod's IP, where Envoy's admin interface must not be
// (it can change config and stop Envoy). So the bootstrap of an injected
// sidecar has a listener that answers one path, Istio's readiness path,
// from the admin's /ready, and nothing else.

// adminClusterName is the static cluster of Envoy's own admin interface.
const adminClusterName = "admin"

// HealthPath is the readiness path on HealthPort, as Istio's sidecars have.
const HealthPath = "/healthz/ready"

func adminCluster(host string, port uint32) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 adminClusterName,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationSeconds(1),
		LoadAssignment:       loadAssignment(adminClusterName, []hostPort{{host: host, port: port}}),
	}
}

// healthListener: GET /healthz/ready → admin /ready (200 "LIVE" once the
// first config is in, 503 before); any other path → 404.
func healthListener(port uint32) *listener.Listener {
	manager := &hcm.HttpConnectionManager{
		StatPrefix: "health",
		RouteSpecifier: &hcm.HttpConnectionManager_RouteConfig{RouteConfig: &route.RouteConfiguration{
			Name: "health",
			VirtualHosts: []*route.VirtualHost{{
				Name:    "health",
				Domains: []string{"*"},
				Routes: []*route.Route{{
					Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: HealthPath}},
					Action: &route.Route_Route{Route: &route.RouteAction{
						ClusterSpecifier: &route.RouteAction_Cluster{Cluster: adminClusterName},
						PrefixRewrite:    "/ready",
						Timeout:          durationSeconds(5),
					}},
				}},
			}},
		}},
		HttpFilters: []*hcm.HttpFilter{routerFilter{}.build(filterContext{})},
	}
	return &listener.Listener{
		Name:         ListenerName("0.0.0.0", port),
		Address:      socketAddress("0.0.0.0", port),
		FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{hcmFilter(manager)}}},
	}
}
