package translate

import (
	"maps"
	"slices"
	"strings"

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
//     tags pulled by regex out of segments "key=.=value;.;" embedded in each
//     cluster's alt_stat_name (cluster_name, destination_service,
//     destination_version, destination_port).
//
// A request from front-end-v1 to catalogue v1 is then counted as
//   envoy_cluster_upstream_rq{cluster_name="outbound|80|v1|catalogue.sock-shop.svc.cluster.local",
//     destination_service="catalogue.sock-shop.svc.cluster.local",destination_version="v1",
//     destination_port="80",envoy_response_code="200",source_workload="front-end-v1",
//     source_workload_namespace="sock-shop"}

// StatsPort is Istio's Prometheus port.
const StatsPort = 15090

// StatsPath is the only path the stats listener serves.
const StatsPath = "/stats/prometheus"

// statsClusterName is the static cluster from the stats listener to admin.
const statsClusterName = "prometheus_stats"

// Tags embedded in stat names, in the order they are written.
const (
	tagClusterName        = "cluster_name"
	tagDestinationService = "destination_service"
	tagDestinationVersion = "destination_version"
	tagDestinationPort    = "destination_port"
)

// statTag is one embedded tag of a stat name.
type statTag struct{ name, value string }

// statName is a cluster's alt_stat_name: every tag as "key=.=value;.;",
// cluster_name first. The regexes of statsTags cut them out again, so
// Prometheus sees the plain stat (envoy_cluster_upstream_rq) with labels.
func statName(clusterName string, tags ...statTag) string {
	var b strings.Builder
	for _, t := range append([]statTag{{tagClusterName, clusterName}}, tags...) {
		if t.value == "" {
			continue
		}
		b.WriteString(t.name + "=.=" + t.value + ";.;")
	}
	return b.String()
}

// outboundStatName tags a service's cluster with the service, the port
// and, for a subset, the version its pods carry (the subset's label
// "version", else the subset's name, which is by convention the version).
func (m *Mesh) outboundStatName(name, host, subset string, port uint32) string {
	version := ""
	if subset != "" {
		version = subset
		for _, s := range m.rules.subsets(host) {
			if s.Name == subset && s.Labels["version"] != "" {
				version = s.Labels["version"]
			}
		}
	}
	return statName(name,
		statTag{tagDestinationService, host},
		statTag{tagDestinationVersion, version},
		statTag{tagDestinationPort, uitoa(port)})
}

// statsTags is the bootstrap's stats_config.stats_tags. use_all_default_tags
// is off: Envoy's default cluster_name regex would cut the embedded tags
// apart. The default tags worth keeping are named again (Envoy fills in
// their regexes).
func statsTags(source map[string]string) []*metrics.TagSpecifier {
	var tags []*metrics.TagSpecifier
	for _, name := range slices.Sorted(maps.Keys(source)) {
		tags = append(tags, &metrics.TagSpecifier{TagName: name,
			TagValue: &metrics.TagSpecifier_FixedValue{FixedValue: source[name]}})
	}
	// cluster_name comes first in the name, right after "cluster.": its
	// regex takes the dot before it, so "cluster.<tags>.upstream_rq" becomes
	// "cluster.upstream_rq".
	tags = append(tags, regexTag(tagClusterName, `^cluster(\.`+segment(tagClusterName)+`)`))
	for _, name := range []string{tagDestinationService, tagDestinationVersion, tagDestinationPort} {
		tags = append(tags, regexTag(name, `^cluster\..*?(`+segment(name)+`)`))
	}
	for _, name := range []string{"envoy.response_code", "envoy.response_code_class", "envoy.http_conn_manager_prefix",
		"envoy.listener_address", "envoy.tcp_prefix", "envoy.grpc_bridge_service", "envoy.grpc_bridge_method"} {
		tags = append(tags, &metrics.TagSpecifier{TagName: name})
	}
	return tags
}

// segment matches one embedded tag; its group is the tag's value.
func segment(name string) string { return name + `=\.=(.+?);\.;` }

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
	for _, c := range b.StaticResources.Clusters {
		c.AltStatName = statName(c.Name)
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
		AltStatName:          statName(statsClusterName),
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationSeconds(1),
		LoadAssignment:       loadAssignment(statsClusterName, []hostPort{{adminHost, adminPort}}),
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
