package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// outlierRule ejects an endpoint after 3 consecutive 5xx answers, for long
// enough to outlast the test (Envoy outlier_detection consecutive_5xx 3,
// base_ejection_time 60s). Round robin makes the failing endpoint's turn
// come every other request; maxEjectionPercent 100 lets Envoy eject one of
// two endpoints (its default, 10%, would allow none but the one it always
// may).
var outlierRule = destinationRule("reviews", `  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    outlierDetection:
      consecutive5xxErrors: 3
      interval: 1s
      baseEjectionTime: 60s
      maxEjectionPercent: 100
`)

// TestDestinationRuleOutlierDetectionEjectsFailingEndpoint: one of two
// endpoints answers 500 to everything. After its third 500 Envoy ejects it,
// and from then on every request is served by the healthy endpoint. (500,
// not 503: the mesh's default retry policy retries 503 on another host,
// which would hide the failures from the client.)
func TestDestinationRuleOutlierDetectionEjectsFailingEndpoint(t *testing.T) {
	const (
		consecutive = 3
		warmup      = 10
		requests    = 20
	)
	m := harness.NewMesh(t, drNamespace)
	m.AddService("reviews", 80, 8080)
	pods := addPods(m, "reviews", 2)
	healthy, failing := pods[0], pods[1]
	client := m.AddClient("sleep")
	m.WriteFile("reviews-destinationrule.yaml", outlierRule)
	m.Start()
	cluster := drCluster("reviews")
	waitHosts(t, client.Admin(), cluster, 2)

	harness.ReplaceApp(t, failing, 8080, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Served-By", failing.Name)
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
	}))

	// Until the ejection: round robin gives the failing endpoint every
	// other request, so 10 requests bring its 3 consecutive 500s.
	c := client.Client()
	before := countServers(t, c, drURL("reviews", "/"), warmup)
	waitStat(t, client.Admin(), "cluster."+cluster+".outlier_detection.ejections_enforced_consecutive_5xx", 1)
	// After it: everything goes to the healthy endpoint.
	after := countServers(t, c, drURL("reviews", "/"), requests)
	t.Logf("before the ejection, %d requests: %s; after it, %d requests: %s",
		warmup, formatCounts(before), requests, formatCounts(after))
	// A request that a second Envoy worker thread routed just before the
	// ejection reached it may make one more failure.
	if n := before["500 "+failing.Name]; n < consecutive || n > consecutive+1 {
		t.Errorf("the failing endpoint answered %d requests before its ejection, want %d", n, consecutive)
	}
	if after["200 "+healthy.Name] != requests {
		t.Errorf("after the ejection: %s, want all %d answered 200 by %s", formatCounts(after), requests, healthy.Name)
	}
	checkEjected(t, client.Admin(), cluster, failing.PodIP)
}

// checkEjected: the admin /clusters page shows the host failed its outlier
// check (health_status.failed_outlier_check).
func checkEjected(t testing.TB, admin, cluster, podIP string) {
	t.Helper()
	cs, err := harness.EnvoyClusters(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range cs[cluster].HostStatuses {
		if h.Address.SocketAddress.Address != podIP {
			continue
		}
		if h.HealthStatus["failed_outlier_check"] != true {
			t.Errorf("host %s of %s: health_status %v, want failed_outlier_check", podIP, cluster, h.HealthStatus)
		}
		return
	}
	t.Errorf("cluster %s has no host %s", cluster, podIP)
}

// countServers sends n GETs through c and counts the answers by "status
// served-by", e.g. "200 reviews-1".
func countServers(t testing.TB, c *http.Client, url string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		a, err := harness.Get(c, url, "")
		if err != nil {
			t.Fatal(err)
		}
		counts[fmt.Sprintf("%d %s", a.Status, a.ServedBy)]++
	}
	return counts
}
