package translate

import (
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/pilotlight/pilotlight/ratelimit"
)

// globalRateLimitFilter is envoy.filters.http.ratelimit, one per
// RateLimitPolicy with global rules that the proxy enforces here (as for
// local limits: sidecar inbound, gateway servers). Each asks the
// rate-limit service, in the policy's own domain, over the cluster of the
// service's gRPC port (outbound|8081||ratelimit…, HTTP/2 as the port is
// grpc). The service's limits come from the same rules (ratelimit
// package), served to it by pilotlight.
type globalRateLimitFilter struct{}

func (f globalRateLimitFilter) build(c filterContext) *hcm.HttpFilter {
	return firstFilter(f.buildAll(c))
}

func (globalRateLimitFilter) buildAll(c filterContext) []*hcm.HttpFilter {
	var out []*hcm.HttpFilter
	for _, p := range enforcedPolicies(c) {
		if p.Spec.Global == nil {
			continue
		}
		host, port, _ := p.RateLimitService() // validated: a service of the mesh
		out = append(out, &hcm.HttpFilter{
			Name:       ratelimit.GlobalFilterName,
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(ratelimit.GlobalConfig(p, OutboundClusterName(port, "", host)))},
		})
	}
	return out
}
