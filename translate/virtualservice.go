package translate

import (
	"fmt"
	"sort"
	"time"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushosts "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	networking "istio.io/api/networking/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/discovery"
)

// virtualServiceRoutes turns spec.http into Envoy routes for one port. Envoy
// takes the first route that matches, as Istio does; several match blocks
// of one rule (OR'ed) become one Envoy route each, with the same action.
func virtualServiceRoutes(snap *discovery.Snapshot, vs *discovery.VirtualService, port uint32) []*route.Route {
	var out []*route.Route
	for i, rule := range vs.Spec.GetHttp() {
		action := routeAction(snap, vs, rule.GetRoute())
		if action == nil {
			continue // redirect and direct_response: see the traffic management work
		}
		name := rule.GetName()
		if name == "" {
			name = fmt.Sprintf("%s.%s.%d", vs.Name, vs.Namespace, i)
		}
		for _, m := range matchBlocks(rule) {
			if m.GetPort() != 0 && m.GetPort() != port {
				continue // match.port: this block is for another port
			}
			out = append(out, &route.Route{Name: name, Match: routeMatch(m), Action: action})
		}
	}
	return out
}

func matchBlocks(rule *networking.HTTPRoute) []*networking.HTTPMatchRequest {
	if len(rule.GetMatch()) == 0 {
		return []*networking.HTTPMatchRequest{nil} // no match: everything
	}
	return rule.GetMatch()
}

// routeMatch: uri → match.path / prefix / safe_regex; headers → match.headers.
func routeMatch(m *networking.HTTPMatchRequest) *route.RouteMatch {
	rm := &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}}
	switch u := m.GetUri().GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		rm.PathSpecifier = &route.RouteMatch_Path{Path: u.Exact}
	case *networking.StringMatch_Prefix:
		rm.PathSpecifier = &route.RouteMatch_Prefix{Prefix: u.Prefix}
	case *networking.StringMatch_Regex:
		rm.PathSpecifier = &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: u.Regex}}
	}
	names := make([]string, 0, len(m.GetHeaders()))
	for name := range m.GetHeaders() {
		names = append(names, name)
	}
	sort.Strings(names) // map order is random; output must not be
	for _, name := range names {
		rm.Headers = append(rm.Headers, headerMatcher(name, m.GetHeaders()[name]))
	}
	return rm
}

// headerMatcher: exact/prefix/regex → string_match; an empty match tests presence.
func headerMatcher(name string, sm *networking.StringMatch) *route.HeaderMatcher {
	hm := &route.HeaderMatcher{Name: name}
	if s := stringMatcher(sm); s != nil {
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_StringMatch{StringMatch: s}
	} else {
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_PresentMatch{PresentMatch: true}
	}
	return hm
}

func stringMatcher(sm *networking.StringMatch) *matcher.StringMatcher {
	switch v := sm.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: v.Exact}}
	case *networking.StringMatch_Prefix:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: v.Prefix}}
	case *networking.StringMatch_Regex:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: v.Regex}}}
	}
	return nil
}

// routeAction: route[].destination → cluster, or weighted_clusters when
// traffic is split.
func routeAction(snap *discovery.Snapshot, vs *discovery.VirtualService, dests []*networking.HTTPRouteDestination) *route.Route_Route {
	switch len(dests) {
	case 0:
		return nil
	case 1:
		return routeTo(&route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{
			Cluster: destinationCluster(snap, vs.Namespace, dests[0].GetDestination()),
		}})
	}
	weighted := &route.WeightedCluster{}
	for _, d := range dests {
		weighted.Clusters = append(weighted.Clusters, &route.WeightedCluster_ClusterWeight{
			Name:   destinationCluster(snap, vs.Namespace, d.GetDestination()),
			Weight: wrapperspb.UInt32(uint32(d.GetWeight())),
		})
	}
	return routeTo(&route.RouteAction{ClusterSpecifier: &route.RouteAction_WeightedClusters{WeightedClusters: weighted}})
}

// destinationCluster names the cluster of a destination. With no port, a
// service with a single port means that port (validation rejects the rest).
func destinationCluster(snap *discovery.Snapshot, namespace string, d *networking.Destination) string {
	host := discovery.ResolveHost(d.GetHost(), namespace)
	port := d.GetPort().GetNumber()
	if svc := snap.ServiceByHost(host); port == 0 && svc != nil && len(svc.Ports) > 0 {
		port = svc.Ports[0].Port
	}
	return OutboundClusterName(port, d.GetSubset(), host)
}

// forwardAll routes every request to one cluster.
func forwardAll(name, cluster string) *route.Route {
	return &route.Route{
		Name:   name,
		Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
		Action: routeTo(&route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cluster}}),
	}
}

// routeTo adds Istio's defaults to a route action: no route timeout
// (timeout: 0s; Envoy's own default is 15s) and Istio's default retry policy.
func routeTo(a *route.RouteAction) *route.Route_Route {
	a.Timeout = durationpb.New(0 * time.Second)
	a.RetryPolicy = defaultRetryPolicy()
	return &route.Route_Route{Route: a}
}

// defaultRetryPolicy is what Istio applies when a route sets no retries:
// two retries on connection failures and 503, each on another host.
func defaultRetryPolicy() *route.RetryPolicy {
	return &route.RetryPolicy{
		RetryOn:              "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
		NumRetries:           wrapperspb.UInt32(2),
		RetriableStatusCodes: []uint32{503},
		RetryHostPredicate: []*route.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &route.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&previoushosts.PreviousHostsPredicate{})},
		}},
		HostSelectionRetryMaxAttempts: 5,
	}
}
