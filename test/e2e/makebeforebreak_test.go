package e2e

import (
	"fmt"
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
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
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
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: front-end
  namespace: sock-shop
spec:
  hosts: [front-end.sock-shop.svc.cluster.local]
  http:
  - route:
    - destination: {host: front-end.sock-shop.svc.cluster.local, subset: %[1]s}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop
  namespace: sock-shop
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  http:
  - route:
    - destination: {host: front-end, subset: %[1]s}
`, subset)
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
	m := harness.NewMesh(t, ns)
	m.BootstrapArgs = bootstrapArgs
	m.AddService("front-end", 80, 8080)
	m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	m.AddPod("front-end-v2", map[string]string{"app": "front-end", "version": "v2"})
	client := m.AddClient("sleep")
	gw := harness.AddGateway(m, "ingressgateway", map[string]string{"app": "ingressgateway", "istio": "ingressgateway"}, gwHTTPPort)
	m.WriteFile("gateway.yaml", shopGatewayHTTP)
	m.WriteFile("release.yaml", releaseTo("v1"))
	m.Start()
	gw.Start()

	paths := []struct {
		name    string
		load    *load
		results []shot
	}{
		{name: "gateway"},
		{name: "sidecar"},
	}
	for _, wait := range []func() error{
		func() error {
			_, err := harness.WaitForRoute(gw.Client(nil), shopURL, nil, converge, servedByVersion("v1"))
			return err
		},
		func() error {
			_, err := harness.WaitForRoute(client.Client(), frontEndURL, nil, converge, servedByVersion("v1"))
			return err
		},
	} {
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
	paths[0].load = startLoad(gw.Client(nil), shopURL, workers)
	paths[1].load = startLoad(client.Client(), frontEndURL, workers)
	stopped := false
	stopAll := func() {
		if !stopped {
			stopped = true
			for i := range paths {
				paths[i].results = paths[i].load.stop()
			}
		}
	}
	defer stopAll()

	live := "v1"
	for i := 0; i < switches; i++ {
		next := map[string]string{"v1": "v2", "v2": "v1"}[live]
		written := m.WriteFile("release.yaml", releaseTo(next))
		for _, p := range paths {
			err := harness.Eventually(converge, 10*time.Millisecond, func() error {
				if !p.load.answeredSince(next, written) {
					return fmt.Errorf("switch %d: %s not answering through the %s yet", i+1, next, p.name)
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
	stopAll()

	total := 0
	for _, p := range paths {
		results := p.results
		var failed []shot
		count := map[string]int{}
		for _, r := range results {
			count[r.version]++
			if r.err != "" {
				failed = append(failed, r)
			}
		}
		total += len(failed)
		t.Logf("through the %s: %d requests, %d v1, %d v2, %d failed", p.name, len(results), count["v1"], count["v2"], len(failed))
		for i, r := range failed {
			if i == 5 {
				break
			}
			t.Errorf("through the %s: request at %s failed: %s", p.name, r.start.Format("15:04:05.000"), r.err)
		}
	}
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
