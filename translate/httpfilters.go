package translate

import (
	"sync"

	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"github.com/pilotlight/pilotlight/discovery"
)

type direction int

const (
	inbound direction = iota
	outbound
)

// filterContext is what an HTTP filter may depend on: which way the traffic
// flows and, for filters configured per workload (authorization, JWT, rate
// limits), the mesh, the proxy's own pod and the listener's port.
type filterContext struct {
	dir  direction
	snap *discovery.Snapshot
	// pod is the proxy's pod: the sidecar's workload or the gateway's pod.
	pod *discovery.Pod
	// port is the port the connection manager serves: the target port on a
	// sidecar's inbound side, the listener port on a gateway, 0 on a
	// sidecar's outbound HTTP proxy.
	port    uint32
	gateway bool
	// mtls: the connection is mesh mutual TLS, so the peer's SPIFFE ID is
	// known (source.principal for authorization); false on a plaintext
	// chain and on outbound listeners.
	mtls bool
	// policies are the security policies of pod, looked up once for all
	// the filters of a listener (httpFilters fills it in).
	policies *podPolicies
}

// podPolicies looks the security policies of a pod up on first use.
type podPolicies struct {
	authorization  func() []*discovery.AuthorizationPolicy
	authentication func() []*discovery.RequestAuthentication
}

// noPolicies: a mesh without security policies looks nothing up.
var noPolicies = &podPolicies{
	authorization:  func() []*discovery.AuthorizationPolicy { return nil },
	authentication: func() []*discovery.RequestAuthentication { return nil },
}

func policiesOf(snap *discovery.Snapshot, pod *discovery.Pod) *podPolicies {
	if len(snap.AuthorizationPolicies)+len(snap.RequestAuthentications) == 0 {
		return noPolicies
	}
	return &podPolicies{
		authorization:  sync.OnceValue(func() []*discovery.AuthorizationPolicy { return snap.AuthorizationPoliciesFor(pod) }),
		authentication: sync.OnceValue(func() []*discovery.RequestAuthentication { return snap.RequestAuthenticationsFor(pod) }),
	}
}

// httpFilter is one entry of an HTTP connection manager's filter chain.
// Each filter (RBAC and JWT inbound, fault, CORS, rate limits) gets a file
// of its own that implements it, and a place in httpFilterOrder.
type httpFilter interface {
	// build returns the filter for this context, or nil when it does not apply.
	build(c filterContext) *hcm.HttpFilter
}

// httpFilterSet is an httpFilter that may add several filters of its kind,
// one per policy (rate limits).
type httpFilterSet interface {
	httpFilter
	// buildAll returns the filters for this context, none when none apply.
	buildAll(c filterContext) []*hcm.HttpFilter
}

// httpFilterOrder: Envoy runs HTTP filters in list order; the router must be last.
// As Istio orders them on inbound HTTP: CUSTOM authorization, jwt_authn,
// then RBAC for AUDIT, DENY and ALLOW (rbac.go, jwt_authn.go); then rate
// limits, local then global (a request the proxy refuses by itself costs
// the rate-limit service nothing), before fault and cors as Envoy Gateway
// and Istio's tutorials order them (local_ratelimit.go, ratelimit.go);
// then fault and cors (fault.go, cors.go).
var httpFilterOrder = []httpFilter{
	rbacFilter{rbacCustom}, jwtAuthnFilter{}, rbacFilter{rbacAudit}, rbacFilter{rbacDeny}, rbacFilter{rbacAllow},
	localRateLimitFilter{}, globalRateLimitFilter{},
	faultFilter{}, corsFilter{}, routerFilter{},
}

func httpFilters(c filterContext) []*hcm.HttpFilter {
	if c.pod != nil && c.policies == nil {
		c.policies = policiesOf(c.snap, c.pod)
	}
	var out []*hcm.HttpFilter
	for _, f := range httpFilterOrder {
		if set, ok := f.(httpFilterSet); ok {
			out = append(out, set.buildAll(c)...)
			continue
		}
		if built := f.build(c); built != nil {
			out = append(out, built)
		}
	}
	return out
}

// routerFilter is envoy.filters.http.router, which forwards to the cluster
// the route chose.
type routerFilter struct{}

func (routerFilter) build(filterContext) *hcm.HttpFilter {
	return &hcm.HttpFilter{
		Name:       wellknown.Router,
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(&router.Router{})},
	}
}
