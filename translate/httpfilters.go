package translate

import (
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
)

type direction int

const (
	inbound direction = iota
	outbound
)

// httpFilter is one entry of an HTTP connection manager's filter chain.
// Later filters (RBAC and JWT inbound, fault and rate limits) each get a
// file of their own that implements it, and a place in httpFilterOrder.
type httpFilter interface {
	// build returns the filter for this direction, or nil when it does not apply.
	build(d direction) *hcm.HttpFilter
}

// httpFilterOrder: Envoy runs HTTP filters in list order; the router must be last.
// fault then cors, as Istio orders them (fault.go, cors.go).
var httpFilterOrder = []httpFilter{faultFilter{}, corsFilter{}, routerFilter{}}

func httpFilters(d direction) []*hcm.HttpFilter {
	var out []*hcm.HttpFilter
	for _, f := range httpFilterOrder {
		if built := f.build(d); built != nil {
			out = append(out, built)
		}
	}
	return out
}

// routerFilter is envoy.filters.http.router, which forwards to the cluster
// the route chose.
type routerFilter struct{}

func (routerFilter) build(direction) *hcm.HttpFilter {
	return &hcm.HttpFilter{
		Name:       wellknown.Router,
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(&router.Router{})},
	}
}
