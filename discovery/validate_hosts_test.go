package discovery

import (
	"testing"
)

func TestResolveHost(t *testing.T) {
	cases := []struct{ host, namespace, want string }{
		{"catalogue", "sock-shop", "catalogue.sock-shop.svc.cluster.local"},
		{"catalogue.sock-shop", "default", "catalogue.sock-shop.svc.cluster.local"},
		{"catalogue.sock-shop.svc", "default", "catalogue.sock-shop.svc.cluster.local"},
		{"catalogue.sock-shop.svc.cluster.local", "default", "catalogue.sock-shop.svc.cluster.local"},
		{"*.sock-shop.svc.cluster.local", "default", "*.sock-shop.svc.cluster.local"},
		{"*", "default", "*"},
		{"example.com.", "default", "example.com"},
	}
	for _, tc := range cases {
		if got := ResolveHost(tc.host, tc.namespace); got != tc.want {
			t.Errorf("ResolveHost(%q, %q) = %q, want %q", tc.host, tc.namespace, got, tc.want)
		}
	}
}
