package e2e

import (
	"net/http"
	"sync"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// circuitBreakerRule: one connection, one request waiting for it, one
// request per connection (Envoy circuit_breakers max_connections 1,
// max_pending_requests 1, common_http_protocol_options
// max_requests_per_connection 1), as in Istio's circuit-breaking task.
var circuitBreakerRule = destinationRule("httpbin", `  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
      http:
        http1MaxPendingRequests: 1
        maxRequestsPerConnection: 1
`)

// TestDestinationRuleCircuitBreaking: fortio with 4 concurrent connections
// overflows the limits and gets a large share of 503s, each one Envoy's own
// overflow answer (upstream_rq_pending_overflow, x-envoy-overloaded: true),
// while a single connection stays within them and gets none. The upstream
// waits 100ms per request, so concurrent requests overlap.
func TestDestinationRuleCircuitBreaking(t *testing.T) {
	const (
		concurrent = 4
		calls      = 40
		singleCall = 20
		minShare   = 0.2 // of 503s with 4 connections; typically far more
	)
	m := harness.NewMesh(t, drNamespace)
	m.AddService("httpbin", 80, 8080)
	m.AddPod("httpbin-1", map[string]string{"app": "httpbin", "version": "v1"})
	client := m.AddClient("fortio")
	m.WriteFile("httpbin-destinationrule.yaml", circuitBreakerRule)
	m.Start()
	harness.MustFortio(t) // build it (once) before the clock matters
	waitHosts(t, client.Admin(), drCluster("httpbin"), 1)
	if _, err := harness.WaitForRoute(client.Client(), drURL("httpbin", "/"), nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	overflows := func() uint64 {
		n, err := harness.EnvoyStat(client.Admin(), "cluster."+drCluster("httpbin")+".upstream_rq_pending_overflow")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	before := overflows()
	busy := fortioThroughSidecar(t, client, "httpbin", "/delay/100", concurrent, calls)
	overflowed := overflows() - before
	t.Logf("%d connections: %v; 503 share %.0f%%; upstream_rq_pending_overflow +%d",
		concurrent, busy, 100*busy.Share("503"), overflowed)
	if busy.Calls() != calls {
		t.Errorf("fortio made %d calls, want %d", busy.Calls(), calls)
	}
	if busy.Share("503") < minShare || busy.RetCodes["200"] == 0 {
		t.Errorf("%d connections: %v, want at least %.0f%% 503s and some 200s", concurrent, busy, 100*minShare)
	}
	// fortio's warmup calls are real calls too, so the counter may be ahead.
	if overflowed < uint64(busy.RetCodes["503"]) {
		t.Errorf("%d 503s but upstream_rq_pending_overflow grew by %d: some 503s were not the circuit breaker's", busy.RetCodes["503"], overflowed)
	}
	checkOverloadedHeader(t, client, concurrent)

	before = overflows()
	single := fortioThroughSidecar(t, client, "httpbin", "/delay/100", 1, singleCall)
	t.Logf("1 connection: %v; upstream_rq_pending_overflow +%d", single, overflows()-before)
	if single.RetCodes["200"] != singleCall {
		t.Errorf("1 connection: %v, want all %d answered 200", single, singleCall)
	}
	if n := overflows() - before; n != 0 {
		t.Errorf("1 connection: upstream_rq_pending_overflow grew by %d, want 0", n)
	}
}

// fortioThroughSidecar runs fortio against the client pod's outbound
// listener with the service's Host header: fortio speaks no HTTP proxy,
// and the listener routes by Host either way.
func fortioThroughSidecar(t testing.TB, client *harness.Pod, service, path string, connections, calls int) *harness.FortioResult {
	t.Helper()
	return fortioThroughSidecarTo(t, client, service+"."+drNamespace, path, connections, calls, "-allow-initial-errors")
}

// checkOverloadedHeader sends bursts of concurrent requests until one is
// refused, and checks that every refusal is Envoy's overflow answer.
func checkOverloadedHeader(t testing.TB, client *harness.Pod, concurrent int) {
	t.Helper()
	refused := 0
	for burst := 0; burst < 5 && refused == 0; burst++ {
		for _, a := range concurrentGets(t, client.Client(), drURL("httpbin", "/delay/100"), concurrent) {
			if a.Status != http.StatusServiceUnavailable {
				continue
			}
			refused++
			if a.Header.Get("x-envoy-overloaded") != "true" {
				t.Errorf("a 503 without x-envoy-overloaded: true: %v (headers %v)", a, a.Header)
			}
		}
	}
	if refused == 0 {
		t.Errorf("5 bursts of %d concurrent requests: none refused", concurrent)
	}
}

func concurrentGets(t testing.TB, c *http.Client, url string, n int) []*harness.Answer {
	t.Helper()
	answers := make([]*harness.Answer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			answers[i], errs[i] = harness.Get(c, url, "")
		}(i)
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("GET %s (request %d of %d): %v", url, i+1, n, err)
		}
	}
	return answers
}
