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
