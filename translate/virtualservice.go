package translate

import (
	"fmt"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushosts "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// How a VirtualService's spec.http becomes Envoy routes. The pieces live in
// virtualservice_*.go: match (the RouteMatch), action (route, redirect and
// direct response), headers, retry, mirror and source (sourceLabels); the
// HTTP filters that per-route config needs are in fault.go and cors.go.

// httpRoutes turns spec.http into the Envoy routes of one service port, as
// seen from one client (src). Envoy takes the first route that matches, as
// Istio takes the first rule; the match blocks of a rule are OR'ed, so each
// becomes an Envoy route of its own with the same action. A block is left
// out when it is for another port (match.port) or another client
// (sourceLabels, sourceNamespace, gateways).
func httpRoutes(snap *discovery.Snapshot, vs *discovery.VirtualService, port uint32, src routeSource) []*route.Route {
	var out []*route.Route
	for i, rule := range vs.Spec.GetHttp() {
		for j, m := range matchBlocks(rule) {
			if m.GetPort() != 0 && m.GetPort() != port {
				continue
			}
			if !appliesTo(m, src) {
				continue
			}
			r := httpRoute(snap, vs, i, rule, m, port)
			if m == nil {
				j = -1 // no match block
			}
			src.explain.route(vs, i, j, rule, r) // explain_route.go
			out = append(out, r)
			if isCatchAll(r.Match) {
				// Nothing after it can match. Istio stops here too, which
				// lets a gateway move catch-alls last when it merges
				// VirtualServices (catchAllLast) without changing what
				// one VirtualService routes.
				return out
			}
		}
	}
	return out
}

// isCatchAll: the route matches every request (path prefix "/" and no
// other condition).
func isCatchAll(m *route.RouteMatch) bool {
	if m.GetPrefix() != "/" && m.GetPathSeparatedPrefix() != "/" {
		return false
	}
	rest := proto.Clone(m).(*route.RouteMatch)
	rest.PathSpecifier, rest.CaseSensitive = nil, nil
	return proto.Size(rest) == 0
}

func matchBlocks(rule *networking.HTTPRoute) []*networking.HTTPMatchRequest {
	if len(rule.GetMatch()) == 0 {
		return []*networking.HTTPMatchRequest{nil} // no match: everything
	}
	return rule.GetMatch()
}

// httpRoute is one match block of one rule. The action is exactly one of
// route (forward), redirect and directResponse; validation made sure.
func httpRoute(snap *discovery.Snapshot, vs *discovery.VirtualService, i int, rule *networking.HTTPRoute, m *networking.HTTPMatchRequest, port uint32) *route.Route {
	r := &route.Route{Name: routeName(vs, i, rule, m), Match: routeMatch(m)}
	// headers: request/response set, add and remove of the whole rule.
	ops := headerOperations(rule.GetHeaders())
	ops.applyToRoute(r)
	switch {
	case rule.GetRedirect() != nil:
		r.Action = redirectAction(rule.GetRedirect(), port)
	case rule.GetDirectResponse() != nil:
		r.Action = directResponseAction(rule.GetDirectResponse())
	default:
		ds := destinations{snap: snap, namespace: vs.Namespace, port: port}
		r.Action = &route.Route_Route{Route: forwardAction(ds, rule, r, ops.authority)}
	}
	r.TypedPerFilterConfig = perFilterConfig(rule)
	return r
}

// routeName is the rule's name, else "vs.namespace.index"; a named match
// block adds ".blockname", as in Istio.
func routeName(vs *discovery.VirtualService, i int, rule *networking.HTTPRoute, m *networking.HTTPMatchRequest) string {
	name := rule.GetName()
	if name == "" {
		name = fmt.Sprintf("%s.%s.%d", vs.Name, vs.Namespace, i)
	}
	if m.GetName() != "" {
		name += "." + m.GetName()
	}
	return name
}

// perFilterConfig: fault and corsPolicy configure the HCM's fault and CORS
// filters for this route only (typed_per_filter_config, keyed by filter name).
func perFilterConfig(rule *networking.HTTPRoute) map[string]*anypb.Any {
	cfg := map[string]*anypb.Any{}
	if f := faultConfig(rule.GetFault()); f != nil {
		cfg[wellknown.Fault] = mustAny(f)
	}
	if c := corsPolicy(rule.GetCorsPolicy()); c != nil {
		cfg[wellknown.CORS] = mustAny(c)
	}
	if len(cfg) == 0 {
		return nil
	}
	return cfg
}

// destinations names the clusters of an HTTP rule's destinations (route,
// mirror, mirrors) on the service port its routes are built for.
type destinations struct {
	snap      *discovery.Snapshot
	namespace string // the VirtualService's: short hosts name its services
	port      uint32 // the service port whose routes these are
}

// cluster names the cluster of one of the rule's destinations.
func (ds destinations) cluster(d *networking.Destination) string {
	return destinationCluster(ds.snap, ds.namespace, d, ds.port)
}

// destinationCluster names the cluster of a destination, as Istio's
// GetDestinationCluster does: destination.port when it is set; else the
// only port of a service with one; else the port the traffic came to
// (routePort: the service port of the route, or the gateway server's), so
// that a VirtualService for a service with several ports routes each port
// to the same port of the destination.
func destinationCluster(snap *discovery.Snapshot, namespace string, d *networking.Destination, routePort uint32) string {
	host := discovery.ResolveHost(d.GetHost(), namespace)
	port := d.GetPort().GetNumber()
	if port == 0 {
		port = routePort
		if svc := snap.ServiceByHost(host); svc != nil && len(svc.Ports) == 1 {
			port = svc.Ports[0].Port
		}
	}
	return OutboundClusterName(port, d.GetSubset(), host)
}

// forwardAll routes every request to one cluster, as a sidecar's inbound
// route does (listener.go): no route timeout (timeout: 0s; Envoy's own
// default is 15s) and Istio's inbound retry policy, which only retries a
// request that never reached the app (reset-before-request). It must not
// retry the app's answers: retries are the client sidecar's, by the
// client's rules, and a 503 retried here too would multiply the tries of
// every retry policy (attempts: 1 would become 3 tries, attempts: 0 not 1).
func forwardAll(name, cluster string) *route.Route {
	return &route.Route{
		Name:  name,
		Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
		Action: &route.Route_Route{Route: &route.RouteAction{
			ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cluster},
			Timeout:          durationpb.New(0),
			RetryPolicy:      &route.RetryPolicy{RetryOn: "reset-before-request", NumRetries: wrapperspb.UInt32(2)},
		}},
	}
}

// defaultRoute is the route of a service port without a VirtualService:
// everything to the whole service, with no timeout and Istio's default
// retry policy, as a rule with no timeout and no retries gets.
func defaultRoute(cluster string) *route.Route {
	return &route.Route{
		Name:  "default",
		Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
		Action: &route.Route_Route{Route: &route.RouteAction{
			ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cluster},
			Timeout:          durationpb.New(0),
			RetryPolicy:      defaultRetryPolicy(),
		}},
	}
}

// defaultRetryPolicy is what Istio applies when a rule sets no retries:
// two retries on connection failures, refused streams and 503, each on
// another host if there is one.
func defaultRetryPolicy() *route.RetryPolicy {
	return &route.RetryPolicy{
		RetryOn:              defaultRetryOn,
		NumRetries:           wrapperspb.UInt32(2),
		RetriableStatusCodes: []uint32{503},
		RetryHostPredicate:   previousHostsPredicate(),
		// host_selection_retry_max_attempts: how often to pick again when
		// the predicate rejects the host picked.
		HostSelectionRetryMaxAttempts: 5,
	}
}

// defaultRetryOn: the conditions of Istio's default retry policy, which a
// rule's retries keep when they leave retryOn unset. Istio documents them
// with MeshConfig.defaultHttpRetryPolicy ("connect-failure,refused-stream,
// unavailable,cancelled,retriable-status-codes", 503 being the retriable
// status code; HTTPRetry.retryOn lists the first four), and pilot's
// retry.DefaultPolicy writes exactly these.
const defaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"

// previousHostsPredicate makes a retry prefer a host not tried yet.
func previousHostsPredicate() []*route.RetryPolicy_RetryHostPredicate {
	return []*route.RetryPolicy_RetryHostPredicate{{
		Name:       "envoy.retry_host_predicates.previous_hosts",
		ConfigType: &route.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&previoushosts.PreviousHostsPredicate{})},
	}}
}
