package discovery

import (
	"testing"

	networking "istio.io/api/networking/v1"
)

// A check in a context runs again only when the context's number changes,
// or for an object it has not seen (another pointer).
func TestKeepInContextChecksAgainOnlyInAnotherContext(t *testing.T) {
	h := newHistory()
	vs := &VirtualService{Meta: Meta{Kind: "VirtualService", Name: "a", Namespace: "ns"}}
	calls := 0
	check := func(*VirtualService) []Problem {
		calls++
		return []Problem{{Kind: "VirtualService", Name: "ns/a", Reason: "a warning", Level: LevelWarning}}
	}
	for i, tc := range []struct {
		items []*VirtualService
		ctx   uint64
		calls int
	}{
		{[]*VirtualService{vs}, 1, 1},
		{[]*VirtualService{vs}, 1, 1},              // the same context: remembered
		{[]*VirtualService{vs}, 2, 2},              // another
		{[]*VirtualService{{Meta: vs.Meta}}, 2, 3}, // another object of the same name
		{[]*VirtualService{vs}, 0, 4},              // no context: always checked
		{[]*VirtualService{vs}, 0, 5},
	} {
		ps := newPass(h, nil)
		got := keepInContext(ps, "VirtualService", tc.items, check, tc.ctx)
		ps.finish()
		if calls != tc.calls || len(got) != 1 || len(ps.problems) != 1 {
			t.Errorf("build %d: %d checks (want %d), %d kept, problems %v", i, calls, tc.calls, len(got), ps.problems)
		}
	}
}

// Two Validators are the same when they check against the same services
// (by name and ports) and subsets, whatever the order of the rules.
func TestValidatorSameAs(t *testing.T) {
	svc := func(name string) *Service {
		return &Service{Meta: Meta{Kind: "Service", Name: name, Namespace: "ns"}, Hostname: Hostname(name, "ns", DefaultDomainSuffix)}
	}
	rule := func(host string, subsets ...string) *DestinationRule {
		dr := &DestinationRule{Meta: Meta{Kind: "DestinationRule", Name: host, Namespace: "ns"}, Spec: &networking.DestinationRule{Host: host}}
		for _, s := range subsets {
			dr.Spec.Subsets = append(dr.Spec.Subsets, &networking.Subset{Name: s})
		}
		return dr
	}
	withPort := func(s *Service, port uint32) *Service {
		s.Ports = append(s.Ports, ServicePort{Name: "http", Port: port})
		return s
	}
	a, b := svc("a"), svc("b")
	base := NewValidator([]*Service{a, b}, []*DestinationRule{rule("a", "v1", "v2"), rule("*.ns.svc.cluster.local", "all")})
	for _, tc := range []struct {
		name  string
		other *Validator
		same  bool
	}{
		{"the same inputs, anew", NewValidator([]*Service{a, b}, []*DestinationRule{rule("a", "v1", "v2"), rule("*.ns.svc.cluster.local", "all")}), true},
		{"rules and subsets in another order", NewValidator([]*Service{b, a}, []*DestinationRule{rule("*.ns.svc.cluster.local", "all"), rule("a", "v2", "v1")}), true},
		{"a service made anew, the same", NewValidator([]*Service{a, svc("b")}, []*DestinationRule{rule("a", "v1", "v2"), rule("*.ns.svc.cluster.local", "all")}), true},
		{"a service with another port", NewValidator([]*Service{a, withPort(svc("b"), 8080)}, []*DestinationRule{rule("a", "v1", "v2"), rule("*.ns.svc.cluster.local", "all")}), false},
		{"a service gone", NewValidator([]*Service{a}, []*DestinationRule{rule("a", "v1", "v2"), rule("*.ns.svc.cluster.local", "all")}), false},
		{"a subset more", NewValidator([]*Service{a, b}, []*DestinationRule{rule("a", "v1", "v2", "v3"), rule("*.ns.svc.cluster.local", "all")}), false},
		{"a wildcard subset gone", NewValidator([]*Service{a, b}, []*DestinationRule{rule("a", "v1", "v2")}), false},
		{"none before", nil, false},
	} {
		if got := base.sameAs(tc.other); got != tc.same {
			t.Errorf("%s: sameAs %v, want %v", tc.name, got, tc.same)
		}
	}
}
