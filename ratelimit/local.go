package ratelimit

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	commonrl "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	localrl "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	rl "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/discovery"
)

// LocalFilterName is the name Envoy and tutorials give the local rate limit filter.
const LocalFilterName = "envoy.filters.http.local_ratelimit"

// defaultLocalHeaders mark a response the local limit refused, as Istio's
// and Envoy's examples do.
var defaultLocalHeaders = []rl.Header{{Name: "x-local-rate-limit", Value: "true"}}

// LocalConfig is the local_ratelimit filter of a policy's local rules: a
// token bucket per rule (descriptors), the rules' descriptors built by the
// filter itself (rate_limits, so no route is touched), enabled and
// enforced for every request (both default to 0%), and no default bucket,
// so that a request no rule counts is never limited.
func LocalConfig(p *discovery.RateLimitPolicy) *localrl.LocalRateLimit {
	local := p.Spec.Local
	c := &localrl.LocalRateLimit{
		StatPrefix:     "local_rate_limit." + p.Namespace + "." + p.Name,
		FilterEnabled:  percent100(),
		FilterEnforced: percent100(),
	}
	headers := local.ResponseHeaders
	if len(headers) == 0 {
		headers = defaultLocalHeaders
	}
	for _, h := range headers {
		// response_headers_to_add: on the 429 the filter sends.
		c.ResponseHeadersToAdd = append(c.ResponseHeadersToAdd, &core.HeaderValueOption{
			Header:       &core.HeaderValue{Key: h.Name, Value: h.Value},
			AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	for i, r := range local.Rules {
		d := ruleDescriptor(i, r)
		c.RateLimits = append(c.RateLimits, d.rateLimit())
		c.Descriptors = append(c.Descriptors, &commonrl.LocalRateLimitDescriptor{
			Entries: localEntries(d.entries),
			// limit.requests per limit.unit → a bucket of that many tokens,
			// refilled whole every unit.
			TokenBucket: &typev3.TokenBucket{
				MaxTokens:     r.Limit.Requests,
				TokensPerFill: wrapperspb.UInt32(r.Limit.Requests),
				FillInterval:  durationpb.New(interval(r.Limit)),
			},
		})
	}
	return c
}

// localEntries: an entry without a value matches any value, each with a
// bucket of its own (Envoy's dynamic descriptors).
func localEntries(entries []entry) []*commonrl.RateLimitDescriptor_Entry {
	out := make([]*commonrl.RateLimitDescriptor_Entry, len(entries))
	for i, e := range entries {
		out[i] = &commonrl.RateLimitDescriptor_Entry{Key: e.key, Value: e.value}
	}
	return out
}

func percent100() *core.RuntimeFractionalPercent {
	return &core.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}}
}
