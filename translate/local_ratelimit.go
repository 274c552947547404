package translate

import (
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/ratelimit"
)

// localRateLimitFilter is envoy.filters.http.local_ratelimit, one per
// RateLimitPolicy with local rules that the proxy enforces here: a
// sidecar's inbound side and a gateway's HTTP servers (never a sidecar's
// outbound proxy: a limit protects the workload that receives). The rules'
// token buckets and descriptors are in the filter (ratelimit.LocalConfig);
// each proxy counts on its own.
type localRateLimitFilter struct{}

func (f localRateLimitFilter) build(c filterContext) *hcm.HttpFilter {
	return firstFilter(f.buildAll(c))
}

func (localRateLimitFilter) buildAll(c filterContext) []*hcm.HttpFilter {
	var out []*hcm.HttpFilter
	for _, p := range enforcedPolicies(c) {
		if p.Spec.Local != nil {
			out = append(out, &hcm.HttpFilter{
				Name:       ratelimit.LocalFilterName,
				ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(ratelimit.LocalConfig(p))},
			})
		}
	}
	return out
}

// enforcedPolicies are the RateLimitPolicies of this connection manager.
func enforcedPolicies(c filterContext) []*discovery.RateLimitPolicy {
	if c.pod == nil || (c.dir != inbound && !c.gateway) {
		return nil
	}
	return c.snap.RateLimitPoliciesFor(c.pod, c.gateway, c.port)
}

func firstFilter(filters []*hcm.HttpFilter) *hcm.HttpFilter {
	if len(filters) == 0 {
		return nil
	}
	return filters[0]
}
