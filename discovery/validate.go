package discovery

// Validation of Istio objects, shared by every source (folder, Kubernetes).
//
// Istio rejects most of these mistakes in its admission webhook, before an
// object is stored. A folder has no webhook, and a cluster may hold objects
// written while no webhook was running, so a source checks them again here.
// An invalid object is skipped as a whole: serving half of a VirtualService
// would send traffic somewhere its author never intended.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// Validate checks the Istio objects of a snapshot that is being built,
// removes the invalid ones and returns why. It remembers nothing: a source
// builds with a Builder, which also serves the last good version of an
// object that turned invalid. Call it before Seal.
func Validate(s *Snapshot) []Problem {
	ps := newPass(newHistory(), nil)
	ps.validateRules(s)
	return ps.finish()
}

// validateRules checks the Istio objects of s, keeping the valid ones (or
// their last good versions). A new kind is one line here: keepValid, or
// keepSelfContained when its check reads nothing but the object.
//
// DestinationRules are checked first, so that a VirtualService may only use
// the subsets of rules that are themselves served. The Problems name Kind
// and Name; the source fills in Source, which only it knows.
func (ps *pass) validateRules(s *Snapshot) {
	s.DestinationRules = keepSelfContained(ps, "DestinationRule", s.DestinationRules, ValidateDestinationRule)
	s.Gateways = keepSelfContained(ps, "Gateway", s.Gateways, ValidateGateway)
	s.PeerAuthentications = keepSelfContained(ps, "PeerAuthentication", s.PeerAuthentications, ValidatePeerAuthentication)
	s.Sidecars = keepSelfContained(ps, "Sidecar", s.Sidecars, ValidateSidecar)
	ps.problems = append(ps.problems, CheckSidecarSelection(s)...)
	v := NewValidator(s.Services, s.DestinationRules)
	s.VirtualServices = keepInContext(ps, "VirtualService", s.VirtualServices, v.VirtualService, ps.h.validatorContext(v))
	ps.problems = append(ps.problems, CheckGatewaySecrets(s)...)
	ps.problems = append(ps.problems, CheckPeerAuthenticationSelectors(s)...)
	s.EnvoyFilters = keepSelfContained(ps, "EnvoyFilter", s.EnvoyFilters, ValidateEnvoyFilter)
	s.RateLimitPolicies = keepValid(ps, "RateLimitPolicy", s.RateLimitPolicies, func(p *RateLimitPolicy) []Problem {
		return ValidateRateLimitPolicy(p, s.Services, s.Gateways)
	})
	s.AuthorizationPolicies = keepSelfContained(ps, "AuthorizationPolicy", s.AuthorizationPolicies, ValidateAuthorizationPolicy)
	s.RequestAuthentications = keepSelfContained(ps, "RequestAuthentication", s.RequestAuthentications, ValidateRequestAuthentication)
	ps.problems = append(ps.problems, CheckAuthorizationPolicies(s)...)
	s.Telemetries = keepSelfContained(ps, "Telemetry", s.Telemetries, ValidateTelemetry) // telemetry.go
}

// problemList collects the problems of one object.
type problemList struct {
	kind, name string
	list       []Problem
}

// newProblemList names the kind itself rather than trusting Meta.Kind, which
// a source may leave empty.
func newProblemList(kind string, m Meta) *problemList {
	return &problemList{kind: kind, name: m.Key()}
}

// warn records a warning: the object is served, without what it says.
func (p *problemList) warn(field, format string, args ...any) {
	p.list = append(p.list, Problem{Kind: p.kind, Name: p.name, Field: field, Reason: fmt.Sprintf(format, args...), Level: LevelWarning})
}

func (p *problemList) add(field, format string, args ...any) {
	p.list = append(p.list, Problem{Kind: p.kind, Name: p.name, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// fieldIndex builds a field path to a list element, e.g. fieldIndex("spec.http", 0).
func fieldIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// fieldKey builds a field path to a map entry, e.g. spec.http[0].match[0].headers.x-user,
// written like the paths that decoding errors report.
func fieldKey(path, k string) string { return path + "." + k }

// sortedNames are the keys of m in order: map order is random, problems
// should not be.
func sortedNames[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
