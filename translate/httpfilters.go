package translate

import (
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
// Rate limits (local, then global: a request the proxy refuses by itself
// costs the rate-limit service nothing) come before fault and cors, as
// Envoy Gateway and Istio's tutorials order them; fault then cors, as Istio
// orders them (local_ratelimit.go, ratelimit.go, fault.go, cors.go).
var httpFilterOrder = []httpFilter{localRateLimitFilter{}, globalRateLimitFilter{}, faultFilter{}, corsFilter{}, routerFilter{}}

func httpFilters(c filterContext) []*hcm.HttpFilter {
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
