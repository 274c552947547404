package translate

import (
	"testing"

	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

func TestVirtualServiceForHost(t *testing.T) {
	vs := func(name string, hosts ...string) *discovery.VirtualService {
		return &discovery.VirtualService{
			Meta: discovery.Meta{Kind: "VirtualService", Name: name, Namespace: "shop"},
			Spec: &networking.VirtualService{Hosts: hosts},
		}
	}
	snap := (&discovery.Snapshot{VirtualServices: []*discovery.VirtualService{
		vs("all", "*"),
		vs("shop-wide", "*.shop.svc.cluster.local"),
		vs("cart", "cart"),
	}}).Seal()
	r := indexRules(snap)
	cases := map[string]string{
		"cart.shop.svc.cluster.local":     "cart",      // exact beats any wildcard
		"orders.shop.svc.cluster.local":   "shop-wide", // the more specific wildcard
		"ratings.other.svc.cluster.local": "all",
	}
	for host, want := range cases {
		got := r.virtualServiceFor(host)
		if got == nil || got.Name != want {
			t.Errorf("%s: got %v, want %s", host, got, want)
		}
	}
}
