package translate

import (
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/discovery"
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
	return policyFilters(c, ratelimit.GlobalFilterName, func(p *discovery.RateLimitPolicy) proto.Message {
		if p.Spec.Global == nil {
			return nil
		}
		host, port, _ := p.RateLimitService() // validated: a service of the mesh
		return ratelimit.GlobalConfig(p, OutboundClusterName(port, "", host))
	})
}
