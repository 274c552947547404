package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Make before break (issue 11): a blue/green release written as a
// tutorial does it, in one file whose DestinationRule defines only the
// live subset. Each write moves the routes to the other subset and removes
// the subset they used, in the same change. Envoy must get the new
// subset's cluster and endpoints before the routes that use it, and lose
// the old one only after it has the routes that no longer do; otherwise a
// request in between meets a route to a cluster Envoy does not have (503,
// no_cluster). Traffic flows through an ingress gateway and through a
// sidecar the whole time, and not one request may fail.

// releaseTo is the release file: front-end's only subset is `subset`, and
// the mesh and the gateway send all of front-end to it.
func releaseTo(subset string) string {
	return harness.JoinDocs(fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: front-end
  namespace: sock-shop
spec:
  host: front-end.sock-shop.svc.cluster.local
  subsets:
  - name: %[1]s
    labels:
      version: %[1]s
`, subset), virtualServiceAllTo(subset), shopAllTo(subset))
}

// pathLoad is a load loop on one path into front-end.
type pathLoad struct {
	*load
	path    string
	stopped bool
	results []shot
}

type pathLoads []*pathLoad

// startLoads sends requests in loops through the gateway and through the
// client's sidecar, workers at a time on each.
func (r *releaseMesh) startLoads(workers int) pathLoads {
	return pathLoads{
		{load: startLoad(r.gw.Client(nil), shopURL, workers), path: "gateway"},
		{load: startLoad(r.client.Client(), frontEndURL, workers), path: "sidecar"},
	}
}

// stop ends the loops (once).
func (ls pathLoads) stop() {
	for _, l := range ls {
		if !l.stopped {
			l.stopped, l.results = true, l.load.stop()
		}
	}
}

// flow waits until every loop has made n more requests.
func (ls pathLoads) flow(t *testing.T, n int) {
	t.Helper()
	for _, l := range ls {
		l.mu.Lock()
		done := len(l.load.results)
		l.mu.Unlock()
		if err := l.waitRequests(done+n, converge); err != nil {
			t.Fatalf("through the %s: %v", l.path, err)
		}
	}
}

// failures stops the loops, reports the failed requests (the first few of
// each path) and returns how many failed.
func (ls pathLoads) failures(t *testing.T) int {
	t.Helper()
	ls.stop()
	total := 0
	for _, l := range ls {
		count, failed := map[string]int{}, 0
		for _, r := range l.results {
			count[r.version]++
			if r.err == "" {
				continue
			}
			if failed++; failed <= 5 {
				t.Errorf("through the %s: request at %s failed: %s", l.path, r.start.Format("15:04:05.000"), r.err)
			}
		}
		t.Logf("through the %s: %d requests, %d v1, %d v2, %d failed", l.path, len(l.results), count["v1"], count["v2"], failed)
		total += failed
	}
	return total
}

// releaseMesh is front-end (v1 and v2 with sidecars), a client pod and an
// ingress gateway, with the release file at v1.
type releaseMesh struct {
	*harness.Mesh
	client *harness.Pod
	gw     *harness.Gateway
}

func startReleaseMesh(t *testing.T, bootstrapArgs []string) *releaseMesh {
	t.Helper()
	m := harness.NewMesh(t, ns)
	m.BootstrapArgs = bootstrapArgs
	m.AddService("front-end", 80, 8080)
	m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	m.AddPod("front-end-v2", map[string]string{"app": "front-end", "version": "v2"})
	r := &releaseMesh{Mesh: m, client: m.AddClient("sleep")}
	r.gw = harness.AddGateway(m, "ingressgateway", map[string]string{"app": "ingressgateway", "istio": "ingressgateway"}, gwHTTPPort)
	m.WriteFile("gateway.yaml", shopGatewayHTTP)
	m.WriteFile("release.yaml", releaseTo("v1"))
	m.Start()
	r.gw.Start()
	for _, wait := range []struct {
		c   *http.Client
		url string
	}{{r.gw.Client(nil), shopURL}, {r.client.Client(), frontEndURL}} {
		if _, err := harness.WaitForRoute(wait.c, wait.url, nil, converge, servedByVersion("v1")); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestMakeBeforeBreak(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bootstrap []string
	}{
		{"sotw", nil},
		{"delta", []string{"--delta"}},
	} {
		t.Run(tc.name, func(t *testing.T) { testMakeBeforeBreak(t, tc.bootstrap) })
	}
}

func testMakeBeforeBreak(t *testing.T, bootstrapArgs []string) {
	const (
		switches = 16 // v1 → v2 → v1 …: eight round trips
		workers  = 2  // per path (gateway, sidecar)
		// After a switch is seen on both paths, traffic goes on this long
		// before the next write, to catch a late removal.
		settle = 300 * time.Millisecond
	)
	m := startReleaseMesh(t, bootstrapArgs)
	loads := m.startLoads(workers)
	defer loads.stop()

	live := "v1"
	for i := 0; i < switches; i++ {
		next := map[string]string{"v1": "v2", "v2": "v1"}[live]
		written := m.WriteFile("release.yaml", releaseTo(next))
		for _, p := range loads {
			err := harness.Eventually(converge, 10*time.Millisecond, func() error {
				if !p.answeredSince(next, written) {
					return fmt.Errorf("switch %d: %s not answering through the %s yet", i+1, next, p.path)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(settle)
		live = next
	}
	total := loads.failures(t)
	t.Logf("%d switches, %d failed requests in all", switches, total)
	if total != 0 {
		t.Errorf("%d requests failed during %d blue/green switches, want 0", total, switches)
	}
}

// answeredSince tells whether version answered a request that started
// after t.
func (l *load) answeredSince(version string, t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.results) - 1; i >= 0; i-- {
		r := l.results[i]
		if r.version == version && r.start.After(t) {
			return true
		}
	}
	return false
}
