package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	xdstype "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// mirrorPolicies: mirror and mirrors[] → request_mirror_policies. Envoy
// sends a copy of each request (fire and forget; the answer is dropped) to
// the mirror's cluster, and appends "-shadow" to the copy's Host.
//
// The share of requests copied (runtime_fraction.default_value) is, for
// mirror: mirrorPercentage, else the legacy mirrorPercent (mirror_percent),
// else 100%; for each mirrors[] entry: its percentage, else 100%. An
// explicit 0 turns that mirror off, as in Istio.
func mirrorPolicies(ds destinations, rule *networking.HTTPRoute) []*route.RouteAction_RequestMirrorPolicy {
	var out []*route.RouteAction_RequestMirrorPolicy
	if m := rule.GetMirror(); m != nil {
		if share := mirrorShare(rule); share != nil {
			out = append(out, mirrorPolicy(ds.cluster(m), share))
		}
	}
	for _, m := range rule.GetMirrors() {
		if share := percentOr100(m.GetPercentage()); share != nil && m.GetDestination() != nil {
			out = append(out, mirrorPolicy(ds.cluster(m.GetDestination()), share))
		}
	}
	return out
}

// mirrorShare is the share of the (single) mirror; nil means none.
func mirrorShare(rule *networking.HTTPRoute) *xdstype.FractionalPercent {
	//nolint:staticcheck // mirror_percent is deprecated, and still served by Istio.
	if rule.GetMirrorPercentage() == nil && rule.GetMirrorPercent() != nil {
		return integerPercent(rule.GetMirrorPercent().GetValue()) //nolint:staticcheck
	}
	return percentOr100(rule.GetMirrorPercentage())
}

// percentOr100: nil is 100%; an explicit 0 is none (nil).
func percentOr100(p *networking.Percent) *xdstype.FractionalPercent {
	if p == nil {
		return integerPercent(100)
	}
	return fractionalPercent(p)
}

func mirrorPolicy(cluster string, share *xdstype.FractionalPercent) *route.RouteAction_RequestMirrorPolicy {
	return &route.RouteAction_RequestMirrorPolicy{
		Cluster:         cluster,
		RuntimeFraction: &core.RuntimeFractionalPercent{DefaultValue: share},
		// trace_sampled: false, so copies do not double the traces.
		TraceSampled: wrapperspb.Bool(false),
	}
}

// fractionalPercent: Istio's Percent is a double 0..100; Envoy's a
// numerator over a denominator. Per MILLION keeps four decimals (0.0001%).
// Zero or less is nil: no share at all.
func fractionalPercent(p *networking.Percent) *xdstype.FractionalPercent {
	if p.GetValue() <= 0 {
		return nil
	}
	return &xdstype.FractionalPercent{Numerator: uint32(p.GetValue()*10000 + 0.5), Denominator: xdstype.FractionalPercent_MILLION}
}

// integerPercent: the legacy integer percents (0..100) over HUNDRED; 0 is nil.
func integerPercent(n uint32) *xdstype.FractionalPercent {
	if n == 0 {
		return nil
	}
	return &xdstype.FractionalPercent{Numerator: n, Denominator: xdstype.FractionalPercent_HUNDRED}
}
