package translate

import (
	"maps"
	"slices"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	metrics "github.com/envoyproxy/go-control-plane/envoy/config/metrics/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Prometheus stats of every sidecar and gateway, as Istio exposes them with
// upstream Envoy (its tools/packaging/common/envoy_bootstrap.json):
//
//   - a static listener on :15090 that serves only /stats/prometheus, through
//     a static cluster to the admin interface, so that scraping never needs
//     the admin port (which can change config and stop Envoy);
//   - tags that name who sends and where to: fixed_value tags for the
//     proxy's own workload (source_workload, source_workload_namespace), and
//     tags that stats_tags regexes read out of the Istio-style cluster name
//     the stat carries (outbound|PORT|SUBSET|HOST): cluster_name,
//     destination_service, destination_version (the subset) and
//     destination_port.
//
// A request from front-end-v1 to catalogue's subset v1 is then counted as
//   envoy_cluster_upstream_rq{cluster_name="outbound|80|v1|catalogue.sock-shop.svc.cluster.local",
//     destination_service="catalogue.sock-shop.svc.cluster.local",destination_version="v1",
//     destination_port="80",envoy_response_code="200",source_workload="front-end-v1",
//     source_workload_namespace="sock-shop"}
//
// The names themselves carry the tags, rather than key=.=value segments
// in each cluster's alt_stat_name: that would rename every cluster's stats
// on the admin page (cluster.<name>.upstream_rq_total) that people and
// tools read.

// StatsPort (Istio's Prometheus port, 15090) is in listener_capture.go.

// StatsPath is the only path the stats listener serves.
const StatsPath = "/stats/prometheus"

// statsClusterName is the static cluster from the stats listener to admin.
const statsClusterName = "prometheus_stats"

// Envoy's regex tags: the first group is cut from the stat's name, the
// second is the value. cluster_name is Istio's own regex; the others read
// parts of the same name, inside what cluster_name cuts.
var clusterNameTags = []struct{ name, regex string }{
	{"cluster_name", `^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)`},
	{"destination_service", `^cluster\.(?:outbound|inbound)\|\d+\|[^|]*\|((.+?\.svc\.cluster\.local))\.`},
	{"destination_version", `^cluster\.outbound\|\d+\|(([^|]+))\|`},
	{"destination_port", `^cluster\.outbound\|((\d+))\|`},
}

// statsTags is the bootstrap's stats_config.stats_tags. use_all_default_tags
// is off: Envoy's default cluster_name regex would cut Istio's names at
// their first dot. The default tags worth keeping are named again (Envoy
// fills in their regexes).
func statsTags(source map[string]string) []*metrics.TagSpecifier {
	var tags []*metrics.TagSpecifier
	for _, name := range slices.Sorted(maps.Keys(source)) {
		tags = append(tags, &metrics.TagSpecifier{TagName: name,
			TagValue: &metrics.TagSpecifier_FixedValue{FixedValue: source[name]}})
	}
	for _, t := range clusterNameTags {
		tags = append(tags, regexTag(t.name, t.regex))
	}
	for _, name := range []string{"envoy.response_code", "envoy.response_code_class", "envoy.http_conn_manager_prefix",
		"envoy.listener_address", "envoy.tcp_prefix", "envoy.grpc_bridge_service", "envoy.grpc_bridge_method"} {
		tags = append(tags, &metrics.TagSpecifier{TagName: name})
	}
	return tags
}

func regexTag(name, regex string) *metrics.TagSpecifier {
	return &metrics.TagSpecifier{TagName: name, TagValue: &metrics.TagSpecifier_Regex{Regex: regex}}
}

// addStats gives a bootstrap its stats tags, and the stats listener with
// its cluster to the admin interface. statsAddr "" leaves the listener out.
func addStats(b *bootstrap.Bootstrap, o BootstrapOptions, adminHost string, adminPort uint32) error {
	source := map[string]string{"source_workload_namespace": o.Proxy.Namespace, "source_workload": o.Workload}
	if o.Workload == "" {
		source["source_workload"] = o.Proxy.PodName
	}
	b.StatsConfig = &metrics.StatsConfig{UseAllDefaultTags: wrapperspb.Bool(false), StatsTags: statsTags(source)}
	if b.StaticResources == nil {
		b.StaticResources = &bootstrap.Bootstrap_StaticResources{}
	}
	if o.StatsAddr == "" {
		return nil
	}
	host, port, err := splitHostPort(o.StatsAddr)
	if err != nil {
		return err
	}
	b.StaticResources.Listeners = append(b.StaticResources.Listeners, statsListener(host, port))
	b.StaticResources.Clusters = append(b.StaticResources.Clusters, &cluster.Cluster{
		Name:                 statsClusterName,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationSeconds(1),
		LoadAssignment:       loadAssignment(statsClusterName, []hostPort{{host: adminHost, port: adminPort}}),
	})
	return nil
}

// statsListener serves GET /stats/prometheus and nothing else.
func statsListener(host string, port uint32) *listener.Listener {
	manager := &hcm.HttpConnectionManager{
		StatPrefix: "stats",
		RouteSpecifier: &hcm.HttpConnectionManager_RouteConfig{RouteConfig: &route.RouteConfiguration{
			Name: "prometheus_stats",
			VirtualHosts: []*route.VirtualHost{{
				Name:    "prometheus_stats",
				Domains: []string{"*"},
				Routes: []*route.Route{{
					Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: StatsPath}},
					Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: statsClusterName}}},
				}},
			}},
		}},
		HttpFilters: []*hcm.HttpFilter{routerFilter{}.build(filterContext{})},
	}
	return &listener.Listener{
		Name:         "stats_prometheus",
		Address:      socketAddress(host, port),
		FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{hcmFilter(manager)}}},
	}
}
