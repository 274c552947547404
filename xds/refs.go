package xds

import (
	"slices"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
)

// refs is what a resource needs from others of the view, by name.
type refs struct {
	// clusters it sends traffic to: named by a route configuration's
	// routes (route.cluster, weighted_clusters), or by a listener's TCP
	// proxies and inline routes. Not request_mirror_policies: Envoy skips
	// a mirror whose cluster it lacks, the request itself is unaffected.
	clusters []string
	// routes (rds.route_config_name) and secrets (SDS, in its TLS
	// contexts) a listener waits for before it serves: Envoy asks for them
	// by name once it has the listener.
	routes, secrets []string
	// eds: a cluster that waits for its endpoints (EDS).
	eds bool
}

// references reads what a resource needs from others. opened are the
// typed configs inside it, as validate opened them.
func references(msg proto.Message, opened []proto.Message) refs {
	switch m := msg.(type) {
	case *cluster.Cluster:
		return refs{eds: m.GetType() == cluster.Cluster_EDS}
	case *route.RouteConfiguration:
		return refs{clusters: sortedUnique(routeClusters(m, nil))}
	case *listener.Listener:
		return listenerRefs(opened)
	}
	return refs{}
}

func routeClusters(rc *route.RouteConfiguration, out []string) []string {
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			a := r.GetRoute()
			if a == nil {
				continue
			}
			if c := a.GetCluster(); c != "" {
				out = append(out, c)
			}
			for _, w := range a.GetWeightedClusters().GetClusters() {
				out = append(out, w.GetName())
			}
		}
	}
	return out
}

// listenerRefs reads a listener's typed configs (of every filter chain,
// and the default one): the clusters of its TCP proxies and inline routes,
// the route configurations of its HTTP connection managers, the SDS
// secrets of its TLS contexts.
func listenerRefs(opened []proto.Message) refs {
	var r refs
	for _, m := range opened {
		switch cfg := m.(type) {
		case *tlsv3.DownstreamTlsContext:
			common := cfg.GetCommonTlsContext()
			for _, sds := range common.GetTlsCertificateSdsSecretConfigs() {
				r.secrets = append(r.secrets, sds.GetName())
			}
			if sds := common.GetValidationContextSdsSecretConfig(); sds != nil {
				r.secrets = append(r.secrets, sds.GetName())
			}
		case *tcpproxy.TcpProxy:
			if c := cfg.GetCluster(); c != "" {
				r.clusters = append(r.clusters, c)
			}
			for _, w := range cfg.GetWeightedClusters().GetClusters() {
				r.clusters = append(r.clusters, w.GetName())
			}
		case *hcm.HttpConnectionManager:
			r.clusters = routeClusters(cfg.GetRouteConfig(), r.clusters)
			if name := cfg.GetRds().GetRouteConfigName(); name != "" {
				r.routes = append(r.routes, name)
			}
		}
	}
	r.clusters, r.routes, r.secrets = sortedUnique(r.clusters), sortedUnique(r.routes), sortedUnique(r.secrets)
	return r
}

func sortedUnique(ss []string) []string {
	slices.Sort(ss)
	return slices.Compact(ss)
}
