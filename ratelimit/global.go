package ratelimit

import (
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	ratelimitconf "github.com/envoyproxy/go-control-plane/envoy/config/ratelimit/v3"
	globalrl "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	rl "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/discovery"
)

// GlobalFilterName is the name Envoy and tutorials give the filter that
// asks the rate-limit service.
const GlobalFilterName = "envoy.filters.http.ratelimit"

// defaultTimeout of a call to the rate-limit service. Envoy's default
// (20 ms) is below what a busy machine takes to open the first connection;
// a slow answer counts as a failure (see failureMode).
const defaultTimeout = time.Second

// Domain is the rate-limit service's domain of a policy's global limits:
// its namespace/name, so that every proxy the policy selects counts in
// the same buckets, and no two policies share one.
func Domain(p *discovery.RateLimitPolicy) string { return p.Key() }

// GlobalConfig is the ratelimit filter of a policy's global rules, calling
// the rate-limit service through cluster (its gRPC port's cluster in the
// proxy's view). The filter builds the descriptors itself (rate_limits),
// so routes stay shared.
func GlobalConfig(p *discovery.RateLimitPolicy, cluster string) *globalrl.RateLimit {
	g := p.Spec.Global
	host, _, _ := p.RateLimitService() // validated
	timeout := defaultTimeout
	if g.Timeout != nil {
		timeout = g.Timeout.Duration
	}
	c := &globalrl.RateLimit{
		Domain:     Domain(p),
		StatPrefix: p.Namespace + "." + p.Name,
		Timeout:    durationpb.New(timeout),
		// failure_mode_deny: fail closed (a 500) when the service cannot
		// be asked; fail open is Envoy's default.
		FailureModeDeny: g.FailureMode == rl.FailClosed,
		RateLimitService: &ratelimitconf.RateLimitServiceConfig{
			GrpcService: &core.GrpcService{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: cluster, Authority: host},
			}},
			TransportApiVersion: core.ApiVersion_V3,
		},
		// x-ratelimit-limit/-remaining/-reset on answers, from the
		// service's current limit.
		EnableXRatelimitHeaders: globalrl.RateLimit_DRAFT_VERSION_03,
	}
	for i, r := range g.Rules {
		c.RateLimits = append(c.RateLimits, ruleDescriptor(i, r).rateLimit())
	}
	return c
}
