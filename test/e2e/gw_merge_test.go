package e2e

import (
	"net/http"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Two teams route one host at the gateway, each in its own VirtualService:
// the site team sends everything to v1, the API team sends /api to v2.
// Istio merges VirtualServices bound to a gateway; the catch-all goes last.
var (
	shopSiteVS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: a-site
  namespace: sock-shop
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  http:
  - route:
    - destination: {host: front-end, subset: v1}
`
	shopAPIVS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: b-api
  namespace: sock-shop
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  http:
  - match:
    - uri: {prefix: /api}
    route:
    - destination: {host: front-end, subset: v2}
`
)

// TestGatewayMergesVirtualServices: /api reaches v2 although the
// VirtualService first by name has a catch-all to v1, which still takes
// every other path.
func TestGatewayMergesVirtualServices(t *testing.T) {
	s := startGatewayShop(t, map[string]string{
		"gateway.yaml": shopGatewayHTTP,
		"rule.yaml":    destinationRuleFrontEnd,
		"vs-site.yaml": shopSiteVS,
		"vs-api.yaml":  shopAPIVS,
	})
	c := s.gw.Client(nil)
	if _, err := harness.WaitForRoute(c, shopURL, nil, converge, servedByVersion("v1")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/api/items", "v2"},
		{"/api", "v2"},
		{"/", "v1"},
		{"/catalogue", "v1"},
	} {
		url := "http://shop.example.com:8080" + tc.path
		count, failures := countVersions(c, url, "", 20, 4)
		if len(failures) > 0 {
			t.Fatalf("%s: %d of 20 requests failed; first: %s", tc.path, len(failures), failures[0])
		}
		if count[tc.want] != 20 {
			t.Errorf("%s: answered by %v, want all 20 by %s", tc.path, count, tc.want)
		}
	}
	a, err := harness.Get(c, "http://shop.example.com:8080/api/items", "")
	if err != nil || a.Status != http.StatusOK || a.Echo == nil || a.Echo.Path != "/api/items" {
		t.Errorf("/api/items: %v (%v), want 200 from the app with path /api/items", a, err)
	}
}
