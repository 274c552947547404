package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// forwardAction is the route action of a rule with route destinations:
//
//	route[].destination   → cluster, or weighted_clusters when split
//	route[].headers       → the route's header lists, or the cluster weight's
//	rewrite.uri           → prefix_rewrite
//	rewrite.uriRegexRewrite → regex_rewrite
//	rewrite.authority     → host_rewrite_literal (else a "host" header set)
//	timeout               → timeout (0s, no timeout, when unset)
//	retries               → retry_policy (Istio's default when unset)
//	mirror(s)             → request_mirror_policies
//
// r is the route being built: a single destination's headers join its lists.
func forwardAction(ds destinations, rule *networking.HTTPRoute, r *route.Route, authority string) *route.RouteAction {
	a := &route.RouteAction{Timeout: routeTimeout(rule.GetTimeout())}
	if rw := rule.GetRewrite(); rw.GetAuthority() != "" {
		authority = rw.GetAuthority()
	}
	if authority != "" {
		a.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: authority}
	}
	applyURIRewrite(a, rule.GetRewrite())
	setDestinations(ds, a, r, rule.GetRoute())
	a.RequestMirrorPolicies = mirrorPolicies(ds, rule)
	a.RetryPolicy = retryPolicy(rule.GetRetries())
	return a
}

// routeTimeout: Istio's default is no timeout at all (0s), not Envoy's 15s.
func routeTimeout(d *durationpb.Duration) *durationpb.Duration {
	if d == nil {
		return durationpb.New(0)
	}
	return d
}

// setDestinations: one destination is the route's cluster, and its
// headers join the route's. Several split the traffic by weight
// (weighted_clusters); each cluster weight carries its own headers and
// authority. As in Istio, a zero weight among several is left out.
func setDestinations(ds destinations, a *route.RouteAction, r *route.Route, dests []*networking.HTTPRouteDestination) {
	if len(dests) == 1 {
		d := dests[0]
		a.ClusterSpecifier = &route.RouteAction_Cluster{Cluster: ds.cluster(d.GetDestination())}
		ops := headerOperations(d.GetHeaders())
		ops.applyToRoute(r)
		// A route-level authority wins over the destination's, so that one
		// destination behaves like a split with the same headers.
		if ops.authority != "" && a.HostRewriteSpecifier == nil {
			a.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: ops.authority}
		}
		return
	}
	weighted := &route.WeightedCluster{}
	for _, d := range dests {
		if d.GetWeight() == 0 {
			continue
		}
		weighted.Clusters = append(weighted.Clusters, clusterWeight(ds, d))
	}
	a.ClusterSpecifier = &route.RouteAction_WeightedClusters{WeightedClusters: weighted}
}

func clusterWeight(ds destinations, d *networking.HTTPRouteDestination) *route.WeightedCluster_ClusterWeight {
	cw := &route.WeightedCluster_ClusterWeight{
		Name:   ds.cluster(d.GetDestination()),
		Weight: wrapperspb.UInt32(uint32(d.GetWeight())),
	}
	ops := headerOperations(d.GetHeaders())
	cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = ops.requestAdd, ops.requestRemove
	cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = ops.responseAdd, ops.responseRemove
	if ops.authority != "" {
		cw.HostRewriteSpecifier = &route.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: ops.authority}
	}
	return cw
}

// applyURIRewrite: rewrite.uri replaces the part of the path the route
// matched (prefix_rewrite); uriRegexRewrite substitutes by RE2 regex
// (regex_rewrite). Validation allows only one of them.
func applyURIRewrite(a *route.RouteAction, rw *networking.HTTPRewrite) {
	if rr := rw.GetUriRegexRewrite(); rr != nil {
		a.RegexRewrite = &matcher.RegexMatchAndSubstitute{
			Pattern:      &matcher.RegexMatcher{Regex: rr.GetMatch()},
			Substitution: rr.GetRewrite(),
		}
		return
	}
	if uri := rw.GetUri(); uri != "" {
		a.PrefixRewrite = uri
	}
}

// redirectAction: redirect → redirect:
//
//	uri → path_redirect, prefixRewrite → prefix_rewrite, authority →
//	host_redirect, scheme → scheme_redirect, port / derivePort →
//	port_redirect, redirectCode → response_code (301 when unset).
func redirectAction(in *networking.HTTPRedirect, listenPort uint32) *route.Route_Redirect {
	ra := &route.RedirectAction{HostRedirect: in.GetAuthority(), ResponseCode: redirectCode(in.GetRedirectCode())}
	switch {
	case in.GetUri() != "":
		ra.PathRewriteSpecifier = &route.RedirectAction_PathRedirect{PathRedirect: in.GetUri()}
	case in.GetPrefixRewrite() != "":
		ra.PathRewriteSpecifier = &route.RedirectAction_PrefixRewrite{PrefixRewrite: in.GetPrefixRewrite()}
	}
	if in.GetScheme() != "" {
		ra.SchemeRewriteSpecifier = &route.RedirectAction_SchemeRedirect{SchemeRedirect: in.GetScheme()}
	}
	ra.PortRedirect = redirectPort(in, listenPort)
	return &route.Route_Redirect{Redirect: ra}
}

// redirectCodes are the codes Envoy can answer a redirect with; validation
// rejects any other.
var redirectCodes = map[uint32]route.RedirectAction_RedirectResponseCode{
	0:   route.RedirectAction_MOVED_PERMANENTLY,
	301: route.RedirectAction_MOVED_PERMANENTLY,
	302: route.RedirectAction_FOUND,
	303: route.RedirectAction_SEE_OTHER,
	307: route.RedirectAction_TEMPORARY_REDIRECT,
	308: route.RedirectAction_PERMANENT_REDIRECT,
}

func redirectCode(code uint32) route.RedirectAction_RedirectResponseCode {
	return redirectCodes[code] // unknown: MOVED_PERMANENTLY (0), never reached after validation
}

// redirectPort: port is that port; derivePort FROM_REQUEST_PORT is the port
// the request came to, which for a route table of one service port is that
// port. The scheme's default port is left out of the Location, as Istio does.
func redirectPort(in *networking.HTTPRedirect, listenPort uint32) uint32 {
	var port uint32
	switch p := in.GetRedirectPort().(type) {
	case *networking.HTTPRedirect_Port:
		port = p.Port
	case *networking.HTTPRedirect_DerivePort:
		if p.DerivePort == networking.HTTPRedirect_FROM_REQUEST_PORT {
			port = listenPort
		}
	default:
		return 0
	}
	scheme := in.GetScheme()
	if scheme == "" {
		scheme = "http" // a sidecar's outbound HTTP never terminates TLS
	}
	if (port == 80 && scheme == "http") || (port == 443 && scheme == "https") {
		return 0
	}
	return port
}

// directResponseAction: directResponse → direct_response: status, and
// body.string / body.bytes → body.inline_string / inline_bytes.
func directResponseAction(in *networking.HTTPDirectResponse) *route.Route_DirectResponse {
	dr := &route.DirectResponseAction{Status: in.GetStatus()}
	switch b := in.GetBody().GetSpecifier().(type) {
	case *networking.HTTPBody_String_:
		dr.Body = &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: b.String_}}
	case *networking.HTTPBody_Bytes:
		dr.Body = &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: b.Bytes}}
	}
	return &route.Route_DirectResponse{DirectResponse: dr}
}
