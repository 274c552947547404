package discovery

import (
	"testing"

	networking "istio.io/api/networking/v1"
)

func TestMeshVirtualServiceMayNotClaimEveryHost(t *testing.T) {
	for _, tc := range []struct {
		gateways []string
		problem  bool
	}{{nil, true}, {[]string{"mesh"}, true}, {[]string{"shop-gateway"}, false}} {
		vs := &VirtualService{
			Meta: Meta{Kind: "VirtualService", Name: "all", Namespace: "shop"},
			Spec: &networking.VirtualService{Hosts: []string{"*"}, Gateways: tc.gateways, Http: []*networking.HTTPRoute{{
				Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: "cart"}}},
			}}},
		}
		got := false
		for _, p := range ValidateVirtualService(vs, nil, nil) {
			if p.Field == "spec.hosts[0]" {
				got = true
			}
		}
		if got != tc.problem {
			t.Errorf("gateways %v: problem on spec.hosts[0] = %v, want %v", tc.gateways, got, tc.problem)
		}
	}
}

// A destination's subset is found in the DestinationRules of its exact
// host and of any wildcard host that covers it, each rule's host resolved
// in the rule's own namespace.
func TestValidatorHasSubset(t *testing.T) {
	rule := func(ns, host string, subsets ...string) *DestinationRule {
		spec := &networking.DestinationRule{Host: host}
		for _, s := range subsets {
			spec.Subsets = append(spec.Subsets, &networking.Subset{Name: s})
		}
		return &DestinationRule{Meta: Meta{Name: "dr-" + ns, Namespace: ns}, Spec: spec}
	}
	v := NewValidator(nil, []*DestinationRule{
		rule("shop", "web", "v1"),
		rule("edge", "*.shop.svc.cluster.local", "canary"),
	})
	cases := []struct {
		host, subset string
		want         bool
	}{
		{"web.shop.svc.cluster.local", "v1", true},
		{"web.shop.svc.cluster.local", "canary", true},
		{"api.shop.svc.cluster.local", "canary", true},
		{"api.shop.svc.cluster.local", "v1", false},
		{"web.edge.svc.cluster.local", "v1", false},
		{"web.other.svc.cluster.local", "canary", false},
	}
	for _, c := range cases {
		if got := v.hasSubset(c.host, c.subset); got != c.want {
			t.Errorf("hasSubset(%s, %s) = %v, want %v", c.host, c.subset, got, c.want)
		}
	}
}
