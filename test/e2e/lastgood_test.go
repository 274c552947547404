package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// virtualServiceCanary sends Firefox users to v2 and splits everyone else
// between v1 and v2 by weight.
func virtualServiceCanary(v1, v2 int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: front-end
  namespace: sock-shop
spec:
  hosts:
  - front-end
  http:
  - name: firefox
    match:
    - headers:
        user-agent:
          regex: ".*Firefox.*"
    route:
    - destination:
        host: front-end
        subset: v2
  - name: canary
    route:
    - destination:
        host: front-end
        subset: v1
      weight: %d
    - destination:
        host: front-end
        subset: v2
      weight: %d
`, v1, v2)
}

// TestBadEditKeepsTheLastGoodCanary: an 80/20 canary with a Firefox rule;
// a typo makes the weights add up to 110. The proxy keeps exactly the route
// table it had (byte for byte), traffic keeps its 80/20 split and its
// Firefox rule with no failed request, the problem says the previous
// version is still served, and no Envoy NACKs. The fix (70/30) then
// reaches the proxy.
func TestBadEditKeepsTheLastGoodCanary(t *testing.T) {
	s := startSockShop(t, map[string]string{
		"front-end-destinationrule.yaml": destinationRuleFrontEnd,
		"front-end-virtualservice.yaml":  virtualServiceCanary(80, 20),
	})
	s.waitClusters(t, frontEndV1Cluster, frontEndV2Cluster)
	c := s.client.Client()
	if _, err := harness.WaitForRoute(c, frontEndURL, http.Header{"User-Agent": {firefoxUA}}, converge, servedByVersion("v2")); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSettled(converge); err != nil {
		t.Fatal(err)
	}
	before := routeTable(t, s.client.Admin(), "http_proxy")
	checkCanaryAndFirefox(t, c, "before the bad edit")

	s.WriteFile("front-end-virtualservice.yaml", virtualServiceCanary(90, 20))
	waitProblems(t, s, "sock-shop/front-end", "weights add up to 110", "the previous valid version is still served")
	if err := s.WaitSettled(converge); err != nil {
		t.Fatal(err)
	}
	if after := routeTable(t, s.client.Admin(), "http_proxy"); after != before {
		t.Errorf("the route table changed after the bad edit:\nbefore %s\nafter  %s", before, after)
	}
	checkCanaryAndFirefox(t, c, "after the bad edit")

	// The fix is served, as any good edit.
	s.WriteFile("front-end-virtualservice.yaml", virtualServiceCanary(70, 30))
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		if rt := routeTable(t, s.client.Admin(), "http_proxy"); !strings.Contains(rt, `"weight":70`) {
			return fmt.Errorf("the route table has no weight 70 yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if raw, _, err := s.Problems(); err != nil || strings.Contains(string(raw), "front-end") {
		t.Errorf("after the fix, /debug/problems still names front-end (%v): %s", err, raw)
	}
}

// checkCanaryAndFirefox: every Firefox request goes to v2, and the others
// split 80/20, with no failure.
func checkCanaryAndFirefox(t *testing.T, c *http.Client, when string) {
	t.Helper()
	for i := 0; i < 30; i++ {
		if a := getOK(t, c, frontEndURL, firefoxUA); a.Echo.Version != "v2" {
			t.Fatalf("%s: Firefox request %d went to %s, want v2", when, i, a.Echo.Version)
		}
	}
	const n = 1000
	count, failures := countVersions(c, frontEndURL, chromeUA, n, 8)
	checkCanary(t, when, count, failures, n)
}

// routeTable is one dynamic route table of an Envoy, as JSON without its
// version and update time: what routes, not when it came.
func routeTable(t *testing.T, admin, name string) string {
	t.Helper()
	body, err := harness.GetBody("http://" + admin + "/config_dump?resource=dynamic_route_configs")
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		Configs []struct {
			RouteConfig json.RawMessage `json:"route_config"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		t.Fatalf("config_dump: %v", err)
	}
	for _, c := range dump.Configs {
		var rc struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(c.RouteConfig, &rc) == nil && rc.Name == name {
			var compact strings.Builder
			enc := json.NewEncoder(&compact)
			var v any
			_ = json.Unmarshal(c.RouteConfig, &v)
			_ = enc.Encode(v)
			return strings.TrimSpace(compact.String())
		}
	}
	t.Fatalf("no route table %s in %s's config_dump", name, admin)
	return ""
}
