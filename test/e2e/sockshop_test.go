// Package e2e runs pilotlight end to end: the real binary serves real Envoy
// sidecars in local mode (every pod has two loopback addresses), and the
// tests send HTTP through the sidecars' outbound proxies to echo apps.
//
// Each test writes its own config folder and starts its own processes (see
// test/harness); they talk to pilotlight only through its command line, its
// ADS port (via Envoy) and its HTTP endpoints. At the end of every test the
// harness checks that no Envoy rejected (NACKed) any update.
package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

const (
	ns = "sock-shop"

	frontEndURL  = "http://front-end.sock-shop/"
	catalogueURL = "http://catalogue.sock-shop/"

	frontEndCluster   = "outbound|80||front-end.sock-shop.svc.cluster.local"
	frontEndV1Cluster = "outbound|80|v1|front-end.sock-shop.svc.cluster.local"
	frontEndV2Cluster = "outbound|80|v2|front-end.sock-shop.svc.cluster.local"
	catalogueCluster  = "outbound|80||catalogue.sock-shop.svc.cluster.local"
	inboundCluster    = "inbound|8080||"

	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chromeUA  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

	// How long a config change may take to show up in routing when the
	// test does not measure it: generous, as the machine may be loaded.
	converge = 20 * time.Second
)

// sockShop is the demo mesh of examples/sockshop with test addresses: the
// services front-end and catalogue (port 80 -> 8080), the pods
// front-end-v1, front-end-v2 and catalogue-v1 with echo apps, and the
// client pod sleep (sidecar only).
type sockShop struct {
	*harness.Mesh
	client, frontEndV1, frontEndV2, catalogue *harness.Pod
}

// newSockShop builds the sock shop mesh, with files (name -> YAML) added to
// its config folder, without starting it.
func newSockShop(t testing.TB, files map[string]string) *sockShop {
	t.Helper()
	m := harness.NewMesh(t, ns)
	m.AddService("front-end", 80, 8080)
	m.AddService("catalogue", 80, 8080)
	s := &sockShop{Mesh: m}
	s.frontEndV1 = m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	s.frontEndV2 = m.AddPod("front-end-v2", map[string]string{"app": "front-end", "version": "v2"})
	s.catalogue = m.AddPod("catalogue-v1", map[string]string{"app": "catalogue", "version": "v1"})
	s.client = m.AddClient("sleep")
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m.WriteFile(name, files[name])
	}
	return s
}

// startSockShop is newSockShop, then Start.
func startSockShop(t testing.TB, files map[string]string) *sockShop {
	t.Helper()
	s := newSockShop(t, files)
	s.Start()
	return s
}

// waitClusters waits until the client's sidecar has these clusters, each
// with endpoints.
func (s *sockShop) waitClusters(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := harness.WaitForCluster(s.client.Admin(), name, converge); err != nil {
			t.Fatal(err)
		}
	}
}

// destinationRuleFrontEnd defines the subsets v1 and v2 of front-end by
// the pods' version label.
const destinationRuleFrontEnd = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: front-end
  namespace: sock-shop
spec:
  host: front-end.sock-shop.svc.cluster.local
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`

// virtualServiceWeighted splits front-end between the subsets by weight.
func virtualServiceWeighted(v1, v2 int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: front-end
  namespace: sock-shop
spec:
  hosts:
  - front-end
  http:
  - route:
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

// virtualServiceAllTo sends all of front-end to one subset.
func virtualServiceAllTo(subset string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: front-end
  namespace: sock-shop
spec:
  hosts:
  - front-end.sock-shop.svc.cluster.local
  http:
  - route:
    - destination:
        host: front-end.sock-shop.svc.cluster.local
        subset: %s
`, subset)
}

// virtualServiceFirefox sends Firefox users to v2, everyone else to v1.
const virtualServiceFirefox = `apiVersion: networking.istio.io/v1
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
  - name: default
    route:
    - destination:
        host: front-end
        subset: v1
`

// getOK sends GET url through c and fails the test unless the echo app
// answered 200.
func getOK(t testing.TB, c *http.Client, url, ua string) *harness.Answer {
	t.Helper()
	a, err := harness.Get(c, url, ua)
	if err != nil {
		t.Fatalf("GET %s (user-agent %q): %v", url, ua, err)
	}
	if a.Status != http.StatusOK || a.Echo == nil {
		t.Fatalf("GET %s (user-agent %q): %v", url, ua, a)
	}
	return a
}

// servedByVersion is an ok function for WaitForRoute: an echo answer from
// the given version.
func servedByVersion(version string) func(*harness.Answer) bool {
	return func(a *harness.Answer) bool {
		return a.Status == http.StatusOK && a.Echo != nil && a.Echo.Version == version
	}
}

// waitStat waits until an Envoy counter reaches at least min.
func waitStat(t testing.TB, admin, name string, min uint64) {
	t.Helper()
	err := harness.Eventually(5*time.Second, 20*time.Millisecond, func() error {
		n, err := harness.EnvoyStat(admin, name)
		if err != nil {
			return err
		}
		if n < min {
			return fmt.Errorf("envoy %s: %s = %d, want >= %d", admin, name, n, min)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
