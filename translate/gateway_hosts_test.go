package translate

import (
	"testing"

	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

func TestHostIntersection(t *testing.T) {
	cases := []struct {
		a, b, want string
		ok         bool
	}{
		{"*", "shop.example.com", "shop.example.com", true},
		{"shop.example.com", "*", "shop.example.com", true},
		{"*.example.com", "shop.example.com", "shop.example.com", true},
		{"shop.example.com", "*.example.com", "shop.example.com", true},
		{"*.example.com", "*.shop.example.com", "*.shop.example.com", true},
		{"*", "*", "*", true},
		{"*.example.com", "example.com", "", false},
		{"shop.example.com", "cart.example.com", "", false},
		{"*.example.com", "*.example.org", "", false},
	}
	for _, tc := range cases {
		if got, ok := hostIntersection(tc.a, tc.b); got != tc.want || ok != tc.ok {
			t.Errorf("hostIntersection(%q, %q) = %q, %v; want %q, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

// TestServerAdmits: the namespace part of a server host says which
// VirtualServices may bind: "*" any, "." the Gateway's, or one by name.
func TestServerAdmits(t *testing.T) {
	gw := &discovery.Gateway{Meta: discovery.Meta{Name: "gw", Namespace: "edge"}}
	cases := []struct {
		serverHost, vsNamespace, vsHost, want string
		ok                                    bool
	}{
		{"shop.example.com", "shop", "shop.example.com", "shop.example.com", true},
		{"*/shop.example.com", "shop", "shop.example.com", "shop.example.com", true},
		{"./shop.example.com", "edge", "shop.example.com", "shop.example.com", true},
		{"./shop.example.com", "shop", "shop.example.com", "", false},
		{"shop/*", "shop", "shop.example.com", "shop.example.com", true},
		{"shop/*", "other", "shop.example.com", "", false},
		{"*.example.com", "shop", "*", "*.example.com", true},
	}
	for _, tc := range cases {
		got, ok := serverAdmits(tc.serverHost, gw, tc.vsNamespace, tc.vsHost)
		if got != tc.want || ok != tc.ok {
			t.Errorf("serverAdmits(%q, VS in %s host %q) = %q, %v; want %q, %v", tc.serverHost, tc.vsNamespace, tc.vsHost, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBindsTo(t *testing.T) {
	gw := &discovery.Gateway{Meta: discovery.Meta{Name: "gw", Namespace: "edge"}}
	vs := func(ns string, gateways ...string) *discovery.VirtualService {
		return &discovery.VirtualService{Meta: discovery.Meta{Name: "vs", Namespace: ns}, Spec: &networking.VirtualService{Gateways: gateways}}
	}
	cases := []struct {
		vs   *discovery.VirtualService
		want bool
	}{
		{vs("edge", "gw"), true},
		{vs("shop", "edge/gw"), true},
		{vs("shop", "gw"), false}, // "gw" from shop is shop/gw
		{vs("edge", "mesh"), false},
		{vs("edge"), false},
		{vs("edge", "mesh", "edge/gw"), true},
	}
	for _, tc := range cases {
		if got := bindsTo(tc.vs, gw); got != tc.want {
			t.Errorf("VS in %s with gateways %v binds: %v, want %v", tc.vs.Namespace, tc.vs.Spec.Gateways, got, tc.want)
		}
	}
}

func TestGatewayVSHost(t *testing.T) {
	cases := map[string]string{
		"front-end":        "front-end.shop.svc.cluster.local",
		"shop.example.com": "shop.example.com",
		"example.com":      "example.com", // not read as service.namespace
		"*":                "*",
		"*.example.com":    "*.example.com",
	}
	for host, want := range cases {
		if got := gatewayVSHost(host, "shop"); got != want {
			t.Errorf("gatewayVSHost(%q) = %q, want %q", host, got, want)
		}
	}
}
