// Package ratelimit turns RateLimitPolicies into what enforces them: the
// config of Envoy's local_ratelimit and ratelimit HTTP filters (local.go,
// global.go), and the limits of the envoyproxy/ratelimit service
// (service_config.go), which Server (server.go) serves to that service over
// xDS. Everything but Server is pure.
//
// Both sides of a global limit are built from one rule by one function
// (ruleDescriptor), so Envoy's descriptors and the service's limits cannot
// disagree: rule i of a policy becomes
//
//	Envoy: rate_limits[i].actions   generic_key{rule: rule-i}, then one action per match
//	service: descriptors            rule=rule-i → rule-i-match-0[=value] → … → rate_limit
//
// A match that does not hold (a header missing or different) leaves the
// request without that descriptor, so the rule does not count it.
package ratelimit

import (
	"fmt"
	"net/netip"
	"time"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	rl "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
)

// ruleKey is the descriptor key every rule's descriptor starts with; its
// value (rule-i) tells the rules of one policy apart.
const ruleKey = "rule"

// entry is one descriptor entry: a key and the value it must have, or any
// value (its own bucket per value) when value is empty.
type entry struct {
	key, value string
}

// descriptor is one rule as Envoy generates it (actions) and as the limits
// match it (entries, in the same order).
type descriptor struct {
	actions []*route.RateLimit_Action
	entries []entry
	limit   rl.Limit
}

// ruleDescriptor builds rule i: the generic key naming the rule, then one
// action per match of every client selector.
func ruleDescriptor(i int, r rl.Rule) descriptor {
	name := fmt.Sprintf("rule-%d", i)
	d := descriptor{limit: r.Limit}
	d.add(genericKey(ruleKey, name), entry{ruleKey, name})
	m := 0
	next := func() string {
		k := fmt.Sprintf("%s-match-%d", name, m)
		m++
		return k
	}
	for _, s := range r.ClientSelectors {
		for _, h := range s.Headers {
			d.header(next(), h)
		}
		if s.SourceCIDR != nil {
			d.source(*s.SourceCIDR)
		}
		if s.Path != nil {
			d.add(headerValueMatch(next(), ":path", pathMatcher(s.Path), false))
		}
		if len(s.Methods) > 0 {
			d.add(headerValueMatch(next(), ":method", regexMatcher(s.MethodRegex()), false))
		}
	}
	return d
}

func (d *descriptor) add(a *route.RateLimit_Action, e entry) {
	d.actions = append(d.actions, a)
	d.entries = append(d.entries, e)
}

// header: Distinct sends the header's value (request_headers), the others
// a fixed value when the header matches (header_value_match).
func (d *descriptor) header(key string, h rl.HeaderMatch) {
	switch h.Type {
	case rl.Distinct:
		d.add(&route.RateLimit_Action{ActionSpecifier: &route.RateLimit_Action_RequestHeaders_{
			RequestHeaders: &route.RateLimit_Action_RequestHeaders{HeaderName: h.Name, DescriptorKey: key},
		}}, entry{key: key})
	case rl.RegularExpression:
		d.add(headerValueMatch(key, h.Name, regexMatcher(*h.Value), h.Invert))
	default:
		d.add(headerValueMatch(key, h.Name, &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: *h.Value}}, h.Invert))
	}
}

// source: masked_remote_address masks the client address to the CIDR's
// length, so its value is the CIDR's network exactly when the client is in
// it (the key is Envoy's own, masked_remote_address). Distinct then adds
// the whole address (remote_address), one bucket per client.
func (d *descriptor) source(s rl.SourceMatch) {
	prefix := netip.MustParsePrefix(s.Value).Masked() // validated
	masked := &route.RateLimit_Action_MaskedRemoteAddress{}
	bits := wrapperspb.UInt32(uint32(prefix.Bits()))
	if prefix.Addr().Is4() {
		masked.V4PrefixMaskLen = bits
	} else {
		masked.V6PrefixMaskLen = bits
	}
	d.add(&route.RateLimit_Action{ActionSpecifier: &route.RateLimit_Action_MaskedRemoteAddress_{MaskedRemoteAddress: masked}},
		entry{"masked_remote_address", prefix.String()})
	if s.Type == rl.Distinct {
		d.add(&route.RateLimit_Action{ActionSpecifier: &route.RateLimit_Action_RemoteAddress_{RemoteAddress: &route.RateLimit_Action_RemoteAddress{}}},
			entry{key: "remote_address"})
	}
}

func genericKey(key, value string) *route.RateLimit_Action {
	return &route.RateLimit_Action{ActionSpecifier: &route.RateLimit_Action_GenericKey_{
		GenericKey: &route.RateLimit_Action_GenericKey{DescriptorKey: key, DescriptorValue: value},
	}}
}

// headerValueMatch sends key=key when the header matches (or, inverted,
// when it does not).
func headerValueMatch(key, header string, m *matcher.StringMatcher, invert bool) (*route.RateLimit_Action, entry) {
	return &route.RateLimit_Action{ActionSpecifier: &route.RateLimit_Action_HeaderValueMatch_{
		HeaderValueMatch: &route.RateLimit_Action_HeaderValueMatch{
			DescriptorKey:   key,
			DescriptorValue: key,
			ExpectMatch:     wrapperspb.Bool(true),
			Headers: []*route.HeaderMatcher{{
				Name:                 header,
				HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: m},
				InvertMatch:          invert,
			}},
		},
	}}, entry{key, key}
}

func pathMatcher(m *rl.PathMatch) *matcher.StringMatcher {
	if m.Type == rl.PathPrefix {
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: m.Value}}
	}
	return regexMatcher(m.PathRegex())
}

func regexMatcher(re string) *matcher.StringMatcher {
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: re}}}
}

// rateLimit is the Envoy rate_limits entry of a descriptor.
func (d descriptor) rateLimit() *route.RateLimit { return &route.RateLimit{Actions: d.actions} }

// interval is the length of the limit's unit.
func interval(l rl.Limit) time.Duration {
	return time.Duration(l.Unit.UnitSeconds()) * time.Second
}
