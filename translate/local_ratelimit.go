package translate

import (
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

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
	return policyFilters(c, ratelimit.LocalFilterName, func(p *discovery.RateLimitPolicy) proto.Message {
		if p.Spec.Local == nil {
			return nil
		}
		return ratelimit.LocalConfig(p)
	})
}

// policyFilters are the filters named name that config makes of the
// RateLimitPolicies this connection manager enforces (nil: none for that
// policy), in policy order.
func policyFilters(c filterContext, name string, config func(*discovery.RateLimitPolicy) proto.Message) []*hcm.HttpFilter {
	if c.pod == nil || (c.dir != inbound && !c.gateway) {
		return nil
	}
	var out []*hcm.HttpFilter
	for _, p := range c.snap.RateLimitPoliciesFor(c.pod, c.gateway, c.port) {
		if m := config(p); m != nil {
			out = append(out, &hcm.HttpFilter{Name: name, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(m)}})
		}
	}
	return out
}

func firstFilter(filters []*hcm.HttpFilter) *hcm.HttpFilter {
	if len(filters) == 0 {
		return nil
	}
	return filters[0]
}
