package ratelimit

import (
	rlsconf "github.com/envoyproxy/go-control-plane/ratelimit/config/ratelimit/v3"

	rl "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/discovery"
)

// ServiceConfigs are the limits of every policy with global rules, one
// RateLimitConfig (the service's config file, as a resource) per policy,
// named and keyed by its Domain, in the snapshot's policy order.
func ServiceConfigs(snap *discovery.Snapshot) []*rlsconf.RateLimitConfig {
	var out []*rlsconf.RateLimitConfig
	for _, p := range snap.RateLimitPolicies {
		if p.Spec.Global == nil {
			continue
		}
		c := &rlsconf.RateLimitConfig{Name: Domain(p), Domain: Domain(p)}
		for i, r := range p.Spec.Global.Rules {
			c.Descriptors = append(c.Descriptors, serviceDescriptor(ruleDescriptor(i, r)))
		}
		out = append(out, c)
	}
	return out
}

// serviceDescriptor nests a rule's entries in the order Envoy sends them,
// the limit on the innermost: the service matches a request's descriptor
// entry by entry down the tree, and a value left out counts each value
// apart.
func serviceDescriptor(d descriptor) *rlsconf.RateLimitDescriptor {
	var inner *rlsconf.RateLimitDescriptor
	for i := len(d.entries) - 1; i >= 0; i-- {
		e := d.entries[i]
		node := &rlsconf.RateLimitDescriptor{Key: e.key, Value: e.value}
		if inner == nil {
			node.RateLimit = &rlsconf.RateLimitPolicy{Unit: serviceUnit(d.limit.Unit), RequestsPerUnit: d.limit.Requests}
		} else {
			node.Descriptors = []*rlsconf.RateLimitDescriptor{inner}
		}
		inner = node
	}
	return inner
}

func serviceUnit(u rl.LimitUnit) rlsconf.RateLimitUnit {
	switch u {
	case rl.Second:
		return rlsconf.RateLimitUnit_SECOND
	case rl.Minute:
		return rlsconf.RateLimitUnit_MINUTE
	case rl.Hour:
		return rlsconf.RateLimitUnit_HOUR
	case rl.Day:
		return rlsconf.RateLimitUnit_DAY
	}
	return rlsconf.RateLimitUnit_UNKNOWN
}
