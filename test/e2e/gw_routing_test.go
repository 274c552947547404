package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Through the ingress gateway: a standalone Envoy (`pilotlight bootstrap
// --gateway`) configured by a Gateway and the VirtualServices bound to it,
// in front of front-end's sidecars.

const (
	shopHost     = "shop.example.com"
	gwHTTPPort   = 8080
	gwHTTPSPort  = 8443
	shopURL      = "http://shop.example.com:8080/"
	shopHTTPSURL = "https://shop.example.com:8443/"
)

// gatewayShop is front-end (v1 and v2, with sidecars) behind an ingress
// gateway pod labelled istio: ingressgateway.
type gatewayShop struct {
	*harness.Mesh
	gw *harness.Gateway
}

// startGatewayShop starts the mesh with files (name -> YAML) in its config
// folder, then the gateway.
func startGatewayShop(t *testing.T, files map[string]string) *gatewayShop {
	t.Helper()
	m := harness.NewMesh(t, ns)
	m.AddService("front-end", 80, 8080)
	m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	m.AddPod("front-end-v2", map[string]string{"app": "front-end", "version": "v2"})
	gw := harness.AddGateway(m, "ingressgateway", map[string]string{"app": "ingressgateway", "istio": "ingressgateway"}, gwHTTPPort, gwHTTPSPort)
	for _, name := range sortedNames(files) {
		m.WriteFile(name, files[name])
	}
	m.Start()
	gw.Start()
	return &gatewayShop{Mesh: m, gw: gw}
}

func sortedNames(files map[string]string) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// shopGateway is the Gateway shop-gateway for the ingress gateway pod with
// these servers (YAML list items, indented as under spec.servers).
func shopGateway(servers string) string {
	return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: shop-gateway
  namespace: sock-shop
spec:
  selector:
    istio: ingressgateway
  servers:
` + servers
}

// shopGatewayHTTP: one HTTP server on 8080 for shop.example.com.
var shopGatewayHTTP = shopGateway(`  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: [shop.example.com]
`)

// shopVS binds http rules (YAML, indented as under spec) to the gateway.
func shopVS(httpRules string) string {
	return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop
  namespace: sock-shop
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  http:
` + httpRules
}

func shopAllTo(subset string) string {
	return shopVS(fmt.Sprintf(`  - route:
    - destination: {host: front-end, subset: %s}
`, subset))
}

// shopFirefoxAndCanary: user-agent .*Firefox.* to v2, the rest 80/20.
var shopFirefoxAndCanary = shopVS(`  - name: firefox
    match:
    - headers:
        user-agent: {regex: ".*Firefox.*"}
    route:
    - destination: {host: front-end, subset: v2}
  - name: canary
    route:
    - destination: {host: front-end, subset: v1}
      weight: 80
    - destination: {host: front-end, subset: v2}
      weight: 20
`)

// TestGatewayBlueGreenSwitch: all of shop.example.com goes to v1 while
// clients send requests through the gateway in a loop; the VirtualService
// file is replaced (atomically) by one sending all to v2. No request may
// fail, and v2 must answer within a second of the write.
func TestGatewayBlueGreenSwitch(t *testing.T) {
	const (
		workers      = 4
		switchBudget = time.Second // debounce (100ms) and a push are far less
		afterSwitch  = 2 * time.Second
		maxDuration  = 30 * time.Second
	)
	s := startGatewayShop(t, map[string]string{
		"gateway.yaml": shopGatewayHTTP,
		"rule.yaml":    destinationRuleFrontEnd,
		"vs.yaml":      shopAllTo("v1"),
	})
	c := s.gw.Client(nil)
	if _, err := harness.WaitForRoute(c, shopURL, nil, converge, servedByVersion("v1")); err != nil {
		t.Fatal(err)
	}

	load := startLoad(c, shopURL, workers)
	if err := load.waitRequests(100, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	written := s.WriteFile("vs.yaml", shopAllTo("v2"))
	// Go on until v2 has answered for a while, to catch failures during
	// and after the switch.
	err := harness.Eventually(maxDuration, 10*time.Millisecond, func() error {
		if first := load.firstAnswerFrom("v2"); first.IsZero() || time.Since(written) < afterSwitch {
			return fmt.Errorf("waiting for v2")
		}
		return nil
	})
	results := load.stop()
	if err != nil {
		t.Fatalf("v2 never answered within %v of the write", maxDuration)
	}

	count := map[string]int{}
	var failed []shot
	var lastV1Start time.Time
	for _, r := range results {
		count[r.version]++
		switch {
		case r.err != "":
			failed = append(failed, r)
		case r.version == "v1" && r.start.After(lastV1Start):
			lastV1Start = r.start
		case r.version == "v2" && r.end.Before(written):
			t.Errorf("a request answered by v2 before the switch was written")
		}
	}
	observed := load.firstAnswerFrom("v2").Sub(written)
	t.Logf("%d requests: %d v1, %d v2, %d failed; v2 first answered %v after the write, last v1 request started %v after it",
		len(results), count["v1"], count["v2"], len(failed), observed.Round(time.Millisecond), lastV1Start.Sub(written).Round(time.Millisecond))
	for i, r := range failed {
		if i < 5 {
			t.Errorf("request started %v after the write failed: %s", r.start.Sub(written), r.err)
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d requests failed, want none", len(failed))
	}
	if observed > switchBudget {
		t.Errorf("v2 answered %v after the write, want within %v", observed, switchBudget)
	}
	if late := lastV1Start.Sub(written); late > switchBudget {
		t.Errorf("a request started %v after the write was answered by v1, want none after %v", late, switchBudget)
	}
}

// TestGatewayCanaryAndUserAgent: one VirtualService bound to the gateway
// sends Firefox users to v2 and splits everyone else 80/20.
func TestGatewayCanaryAndUserAgent(t *testing.T) {
	s := startGatewayShop(t, map[string]string{
		"gateway.yaml": shopGatewayHTTP,
		"rule.yaml":    destinationRuleFrontEnd,
		"vs.yaml":      shopFirefoxAndCanary,
	})
	c := s.gw.Client(nil)
	if _, err := harness.WaitForRoute(c, shopURL, http.Header{"User-Agent": {firefoxUA}}, converge, servedByVersion("v2")); err != nil {
		t.Fatal(err)
	}

	t.Run("canary 80/20", func(t *testing.T) {
		// Each request picks a subset at random: the number sent to v2 out
		// of n is binomial(n, 0.2), its share has standard deviation
		// sqrt(0.2*0.8/n) = 0.0126 for n = 1000. Five deviations (±0.063)
		// are exceeded by chance with probability about 6e-7; a 50/50
		// split or all to one subset is over 20 deviations away.
		const n = 1000
		count, failures := countVersions(c, shopURL, "", n, 8)
		checkCanary(t, "requests", count, failures, n)
	})

	t.Run("user-agent .*Firefox.* to v2", func(t *testing.T) {
		cases := []struct{ ua, want string }{
			{firefoxUA, "v2"},
			{"something Firefox/1 something", "v2"},
			// RE2, anchored, case-sensitive: these are not Firefox.
			{"mozilla/5.0 firefox/128.0", ""},
			{chromeUA, ""},
		}
		for _, tc := range cases {
			count, failures := countVersions(c, shopURL, tc.ua, 40, 4)
			if len(failures) > 0 {
				t.Fatalf("user-agent %q: %d requests failed; first: %s", tc.ua, len(failures), failures[0])
			}
			switch {
			case tc.want == "v2" && count["v2"] != 40:
				t.Errorf("user-agent %q: %v, want all 40 to v2", tc.ua, count)
			case tc.want == "" && count["v1"] == 0:
				// The canary's 80% makes 40 answers without v1 a 1e-28 event.
				t.Errorf("user-agent %q: %v, want the canary split (mostly v1)", tc.ua, count)
			}
		}
	})
}

// countVersions sends n GETs (workers at a time) and counts answers by
// version; failures are described.
func countVersions(c *http.Client, url, ua string, n, workers int) (map[string]int, []string) {
	return harness.CountVersions(n, workers, func() (string, error) {
		a, err := harness.Get(c, url, ua)
		if err != nil {
			return "", err
		}
		if a.Status != http.StatusOK || a.Echo == nil {
			return "", errors.New(a.String())
		}
		return a.Echo.Version, nil
	})
}

// shot is one request of a load loop.
type shot struct {
	start, end time.Time
	version    string
	err        string
}

// load sends GETs from workers in a loop until stopped.
type load struct {
	mu      sync.Mutex
	results []shot
	first   map[string]time.Time // version -> end of its first answer
	done    chan struct{}
	wg      sync.WaitGroup
}

func startLoad(c *http.Client, url string, workers int) *load {
	l := &load{first: map[string]time.Time{}, done: make(chan struct{})}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.done:
					return
				default:
				}
				l.record(fire(c, url))
			}
		}()
	}
	return l
}

func fire(c *http.Client, url string) shot {
	r := shot{start: time.Now()}
	a, err := harness.Get(c, url, "")
	r.end = time.Now()
	switch {
	case err != nil:
		r.err = err.Error()
	case a.Status != http.StatusOK || a.Echo == nil:
		r.err = a.String()
	default:
		r.version = a.Echo.Version
	}
	return r
}

func (l *load) record(r shot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = append(l.results, r)
	if r.version != "" {
		if f, ok := l.first[r.version]; !ok || r.end.Before(f) {
			l.first[r.version] = r.end
		}
	}
}

func (l *load) waitRequests(n int, timeout time.Duration) error {
	return harness.Eventually(timeout, 10*time.Millisecond, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.results) < n {
			return fmt.Errorf("only %d requests done, want %d", len(l.results), n)
		}
		return nil
	})
}

func (l *load) firstAnswerFrom(version string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first[version]
}

// stop ends the loop and returns every request it made.
func (l *load) stop() []shot {
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.results
}
