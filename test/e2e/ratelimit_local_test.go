package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Local rate limits on the catalogue workload's inbound side: 10 tokens per
// 60 s in its sidecar, so that fortio's 20 requests on 4 connections get
// 10 answers and 10 refusals, each a 429 with x-local-rate-limit: true.

// catalogueLocalPolicy is the limit as our own policy.
const catalogueLocalPolicy = `apiVersion: ratelimit.pilotlight.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: catalogue, namespace: sock-shop}
spec:
  selector:
    matchLabels: {app: catalogue}
  local:
    rules:
    - limit: {requests: 10, unit: Minute}
`

// brokenEnvoyFilters: one patch Envoy would reject (a token bucket that
// never fills), one that matches nothing (no such listener port). Neither
// may change what the sidecar runs, nor make it NACK; both are reported.
const brokenEnvoyFilters = `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: broken, namespace: sock-shop}
spec:
  workloadSelector:
    labels: {app: catalogue}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      listener:
        filterChain:
          filter: {name: envoy.filters.network.http_connection_manager}
    patch:
      operation: INSERT_FIRST
      value:
        name: never-fills
        typed_config:
          "@type": type.googleapis.com/udpa.type.v1.TypedStruct
          type_url: type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
          value:
            stat_prefix: never_fills
            token_bucket: {max_tokens: 1, tokens_per_fill: 1, fill_interval: 0s}
  - applyTo: LISTENER
    match:
      context: SIDECAR_INBOUND
      listener: {portNumber: 9999}
    patch:
      operation: MERGE
      value: {per_connection_buffer_limit_bytes: 1024}
`

// TestRateLimitLocalPolicy: the limit as a RateLimitPolicy.
func TestRateLimitLocalPolicy(t *testing.T) {
	checkCatalogueLocalLimit(t, map[string]string{"local.yaml": catalogueLocalPolicy}, "local_rate_limit.sock-shop.catalogue")
}

// TestRateLimitLocalEnvoyFilter: the same with Istio's local rate-limit
// task's EnvoyFilter (a TypedStruct, translate/testdata/cases/
// envoyfilter-tutorial-local), next to two broken patches.
func TestRateLimitLocalEnvoyFilter(t *testing.T) {
	files := caseFiles(t, "envoyfilter-tutorial-local", "1*.yaml")
	files["broken.yaml"] = brokenEnvoyFilters
	m := checkCatalogueLocalLimit(t, files, "http_local_rate_limiter")
	raw, entries, err := m.Problems()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"spec.configPatches[0]": "Envoy would reject the result",
		"spec.configPatches[1]": "matched nothing",
	}
	for _, e := range entries {
		if e["name"] == "sock-shop/broken" && strings.Contains(e["reason"].(string), want[e["field"].(string)]) {
			delete(want, e["field"].(string))
		}
	}
	if len(want) > 0 {
		t.Errorf("/debug/problems lacks %v: %s", want, raw)
	}
	// The rejected filter never reached the sidecar.
	dump, err := harness.EnvoyConfigDump(m.Pod("catalogue-v1").Admin())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(dump), "never_fills") {
		t.Errorf("the sidecar got the patch Envoy would reject")
	}
}

// checkCatalogueLocalLimit starts catalogue (with the files in its config
// folder) and a client, and checks the limit with fortio and one request.
// statPrefix is the local_ratelimit filter's: its rate_limited counter
// must count every 429 fortio saw, so every 429 was the filter's own
// answer, which carries the filter's response headers.
func checkCatalogueLocalLimit(t *testing.T, files map[string]string, statPrefix string) *harness.Mesh {
	t.Helper()
	m := harness.NewMesh(t, ns)
	m.AddService("catalogue", 80, 8080)
	catalogue := m.AddPod("catalogue-v1", map[string]string{"app": "catalogue", "version": "v1"})
	client := m.AddClient("fortio")
	for _, name := range sortedNames(files) {
		m.WriteFile(name, files[name])
	}
	harness.MustFortio(t)
	m.Start()
	// No request reaches catalogue before the test's own: each would take
	// a token. Every proxy has ACKed its routes and endpoints.
	if err := m.WaitSettled(converge); err != nil {
		t.Fatal(err)
	}
	if err := harness.Eventually(converge, 100*time.Millisecond, func() error {
		return hasLocalRateLimit(catalogue.Admin(), statPrefix)
	}); err != nil {
		t.Fatal(err)
	}
	limited := func() uint64 {
		n, err := harness.EnvoyStat(catalogue.Admin(), statPrefix+".http_local_rate_limit.rate_limited")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	before := limited()
	r := fortioThroughSidecarTo(t, client, "catalogue."+ns, "/", 4, 20)
	if r.RetCodes["200"] != 10 || r.RetCodes["429"] != 10 || r.Calls() != 20 {
		t.Errorf("fortio -c 4 -qps 0 -n 20: %v, want 200 x10, 429 x10", r)
	} else {
		t.Logf("fortio -c 4 -qps 0 -n 20: %v", r)
	}
	if got := limited() - before; got != 10 {
		t.Errorf("%s.http_local_rate_limit.rate_limited went up by %d, want 10 (one per 429)", statPrefix, got)
	}
	a, err := harness.Do(client.Client(), http.MethodGet, "http://catalogue."+ns+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != http.StatusTooManyRequests || a.Header.Get("X-Local-Rate-Limit") != "true" {
		t.Errorf("a request once the bucket is empty: %d, x-local-rate-limit %q; want 429, true", a.Status, a.Header.Get("X-Local-Rate-Limit"))
	}
	return m
}

// hasLocalRateLimit: the sidecar runs a local_ratelimit filter with this
// stat prefix (its stats exist once the listener is in place).
func hasLocalRateLimit(admin, statPrefix string) error {
	dump, err := harness.EnvoyConfigDump(admin)
	if err != nil {
		return err
	}
	if !strings.Contains(string(dump), statPrefix) {
		return fmt.Errorf("no local_ratelimit filter %s in the sidecar's config", statPrefix)
	}
	return nil
}

// fortioThroughSidecarTo runs `fortio load -c connections -qps 0 -n calls`
// (and extra flags) against host through the client's outbound proxy.
func fortioThroughSidecarTo(t testing.TB, client *harness.Pod, host, path string, connections, calls int, extra ...string) *harness.FortioResult {
	t.Helper()
	args := append([]string{"-c", strconv.Itoa(connections), "-n", strconv.Itoa(calls), "-qps", "0", "-timeout", "10s"}, extra...)
	r, err := harness.FortioLoad(t, append(args, "-H", "Host: "+host, "http://"+client.ProxyAddr()+path)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
