package discovery

// Validation of RateLimitPolicies. A policy is served as written or not at
// all: a limit that is half applied (the proxy counting, the rate-limit
// service not knowing the descriptor, say) is worse than none, because it
// looks like it works.

import (
	"net/netip"
	"regexp"
	"strings"

	ratelimitv1alpha1 "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
)

// ValidateRateLimitPolicy returns the problems of a policy; none means it
// can be served. services and gateways are the mesh's (the gateways
// already valid): a global limit needs its rate-limit service, and
// targetRefs their Gateways.
func ValidateRateLimitPolicy(rp *RateLimitPolicy, services []*Service, gateways []*Gateway) []Problem {
	p := newProblemList(ratelimitv1alpha1.Kind, rp.Meta)
	spec := rp.Spec
	if spec == nil {
		p.add("spec", "spec is required")
		return p.list
	}
	if spec.Local == nil && spec.Global == nil {
		p.add("spec", "set local, global or both")
	}
	checkPolicyTarget(p, rp, gateways)
	if spec.Local != nil {
		checkRules(p, "spec.local.rules", spec.Local.Rules)
		for i, h := range spec.Local.ResponseHeaders {
			path := fieldIndex("spec.local.responseHeaders", i)
			checkModifiableHeader(p, path+".name", h.Name)
			checkHeaderValue(p, path+".value", h.Value)
		}
	}
	if g := spec.Global; g != nil {
		checkRules(p, "spec.global.rules", g.Rules)
		checkRateLimitService(p, rp, services)
		switch g.FailureMode {
		case "", ratelimitv1alpha1.FailOpen, ratelimitv1alpha1.FailClosed:
		default:
			p.add("spec.global.failureMode", "%q: want Allow (fail open) or Deny (fail closed)", g.FailureMode)
		}
		if g.Timeout != nil && g.Timeout.Duration <= 0 {
			p.add("spec.global.timeout", "must be positive")
		}
	}
	return p.list
}

// checkPolicyTarget: selector or targetRefs, and targetRefs name Gateways
// of the policy's namespace.
func checkPolicyTarget(p *problemList, rp *RateLimitPolicy, gateways []*Gateway) {
	spec := rp.Spec
	if spec.Selector != nil && len(spec.TargetRefs) > 0 {
		p.add("spec.targetRefs", "set selector or targetRefs, not both")
	}
	for i, ref := range spec.TargetRefs {
		path := fieldIndex("spec.targetRefs", i)
		if ref.Kind != "Gateway" || (ref.Group != "" && ref.Group != "networking.istio.io") {
			p.add(path, "only Istio Gateways (group networking.istio.io, kind Gateway) can be targets, not %s %s", ref.Group, ref.Kind)
			continue
		}
		found := false
		for _, gw := range gateways {
			found = found || (gw.Namespace == rp.Namespace && gw.Name == ref.Name)
		}
		if !found {
			p.add(path+".name", "no Gateway %s/%s", rp.Namespace, ref.Name)
		}
	}
}

// checkRateLimitService: the service that counts global limits must be a
// Service of the mesh with that port, or the proxies' ratelimit filter
// would have no cluster to call.
func checkRateLimitService(p *problemList, rp *RateLimitPolicy, services []*Service) {
	host, port, ok := rp.RateLimitService()
	if !ok {
		p.add("spec.global.service", "%q: want host:port", rp.Spec.Global.Service)
		return
	}
	for _, svc := range services {
		if svc.Hostname != host {
			continue
		}
		for _, sp := range svc.Ports {
			if sp.Port == port {
				return
			}
		}
		p.add("spec.global.service", "service %s has no port %d", host, port)
		return
	}
	p.add("spec.global.service", "no service %s in the mesh (the rate-limit service must be a Service pilotlight knows)", host)
}

func checkRules(p *problemList, path string, rules []ratelimitv1alpha1.Rule) {
	if len(rules) == 0 {
		p.add(path, "at least one rule is required")
	}
	for i, r := range rules {
		rulePath := fieldIndex(path, i)
		if r.Limit.Requests == 0 {
			p.add(rulePath+".limit.requests", "must be at least 1")
		}
		if r.Limit.Unit.UnitSeconds() == 0 {
			p.add(rulePath+".limit.unit", "%q: want Second, Minute, Hour or Day", r.Limit.Unit)
		}
		for j, s := range r.ClientSelectors {
			checkClientSelector(p, fieldIndex(rulePath+".clientSelectors", j), s)
		}
	}
}

func checkClientSelector(p *problemList, path string, s ratelimitv1alpha1.ClientSelector) {
	if len(s.Headers) == 0 && s.SourceCIDR == nil && s.Path == nil && len(s.Methods) == 0 {
		p.add(path, "an empty selector: set headers, sourceCIDR, path or methods (or leave clientSelectors out to count every request)")
	}
	for i, h := range s.Headers {
		checkHeaderMatch(p, fieldIndex(path+".headers", i), h)
	}
	if c := s.SourceCIDR; c != nil {
		if _, err := netip.ParsePrefix(c.Value); err != nil {
			p.add(path+".sourceCIDR.value", "%q is not a CIDR (10.0.0.0/8, 2001:db8::/32)", c.Value)
		}
		if c.Type != "" && c.Type != ratelimitv1alpha1.Exact && c.Type != ratelimitv1alpha1.Distinct {
			p.add(path+".sourceCIDR.type", "%q: want Exact or Distinct", c.Type)
		}
	}
	if m := s.Path; m != nil {
		checkPathMatch(p, path+".path", m)
	}
	for i, m := range s.Methods {
		if !isToken(m) {
			p.add(fieldIndex(path+".methods", i), "%q is not an HTTP method", m)
		}
	}
	if len(s.Methods) > 0 {
		checkRE2(p, path+".methods", s.MethodRegex())
	}
}

func checkHeaderMatch(p *problemList, path string, h ratelimitv1alpha1.HeaderMatch) {
	checkMatchHeaderName(p, path+".name", h.Name)
	if h.Name != strings.ToLower(h.Name) {
		// Envoy matches lower-cased names (HTTP/2 and HTTP/3 send nothing else).
		p.add(path+".name", "%q: header names are matched in lower case; write %q", h.Name, strings.ToLower(h.Name))
	}
	switch h.Type {
	case "", ratelimitv1alpha1.Exact, ratelimitv1alpha1.RegularExpression:
		if h.Value == nil {
			p.add(path+".value", "a value is required for type %s", typeOr(h.Type, ratelimitv1alpha1.Exact))
			return
		}
		checkHeaderValue(p, path+".value", *h.Value)
		if h.Type == ratelimitv1alpha1.RegularExpression {
			checkRE2(p, path+".value", *h.Value)
		}
	case ratelimitv1alpha1.Distinct:
		if h.Value != nil {
			p.add(path+".value", "a Distinct match counts every value apart; it takes no value")
		}
		if h.Invert {
			p.add(path+".invert", "a Distinct match cannot be inverted")
		}
	default:
		p.add(path+".type", "%q: want Exact, RegularExpression or Distinct", h.Type)
	}
}

func checkPathMatch(p *problemList, path string, m *ratelimitv1alpha1.PathMatch) {
	switch m.Type {
	case "", ratelimitv1alpha1.Exact, ratelimitv1alpha1.PathPrefix:
		if !strings.HasPrefix(m.Value, "/") {
			p.add(path+".value", "%q: a path starts with /", m.Value)
		}
		checkHeaderValue(p, path+".value", m.Value)
		if m.Type != ratelimitv1alpha1.PathPrefix {
			checkRE2(p, path+".value", m.PathRegex())
		}
	case ratelimitv1alpha1.RegularExpression:
		if _, err := regexp.Compile(m.Value); err != nil {
			p.add(path+".value", "not a valid RE2 regex: %v", err)
			return
		}
		checkRE2(p, path+".value", m.PathRegex())
	default:
		p.add(path+".type", "%q: want Exact, PathPrefix or RegularExpression", m.Type)
	}
}

func typeOr(t, def ratelimitv1alpha1.MatchType) ratelimitv1alpha1.MatchType {
	if t == "" {
		return def
	}
	return t
}
