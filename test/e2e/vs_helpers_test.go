package e2e

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Shared by the VirtualService tests (vs_*_test.go). Their mesh is the
// front-end of the sock shop alone: service front-end (80 -> 8080), pods
// front-end-v1 and front-end-v2 (the subsets v1 and v2 of
// destinationRuleFrontEnd) and the client pod sleep; each test writes its
// own VirtualService for front-end. Three sidecars: small enough to start
// one mesh per behaviour.

type vsMesh struct {
	*harness.Mesh
	client, v1, v2 *harness.Pod
}

// newVSMesh builds the mesh with the VirtualService vs, without starting it.
func newVSMesh(t testing.TB, vs string) *vsMesh {
	t.Helper()
	m := harness.NewMesh(t, ns)
	m.AddService("front-end", 80, 8080)
	s := &vsMesh{Mesh: m}
	s.v1 = m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	s.v2 = m.AddPod("front-end-v2", map[string]string{"app": "front-end", "version": "v2"})
	s.client = m.AddClient("sleep")
	m.WriteFile("front-end-destinationrule.yaml", destinationRuleFrontEnd)
	m.WriteFile("front-end-virtualservice.yaml", vs)
	return s
}

// start starts the mesh and waits until the client's sidecar has both
// subsets' clusters with endpoints.
func (s *vsMesh) start(t testing.TB) {
	t.Helper()
	s.Start()
	for _, name := range []string{frontEndV1Cluster, frontEndV2Cluster} {
		if _, err := harness.WaitForCluster(s.client.Admin(), name, converge); err != nil {
			t.Fatal(err)
		}
	}
}

// vsFrontEnd is a VirtualService for front-end with these http rules
// (YAML list items at column 0; they are indented under http:).
func vsFrontEnd(rules string) string {
	var b strings.Builder
	b.WriteString(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: front-end
  namespace: sock-shop
spec:
  hosts:
  - front-end
  http:
`)
	for _, line := range strings.Split(strings.TrimRight(rules, "\n"), "\n") {
		if line != "" {
			b.WriteString("  " + line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// vsToSubset is a route: to one subset of front-end, as YAML under a rule.
func vsToSubset(subset string) string {
	return fmt.Sprintf("  route:\n  - destination:\n      host: front-end\n      subset: %s\n", subset)
}

// vsURL is the URL of path on front-end, through the proxy.
func vsURL(path string) string { return "http://front-end.sock-shop" + path }

// vsSend sends one request through c and fails the test on a transport error.
func vsSend(t testing.TB, c *http.Client, method, url string, header http.Header) *harness.Answer {
	t.Helper()
	a, err := harness.Do(c, method, url, header)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return a
}

// vsTimed is vsSend, and how long the answer took.
func vsTimed(t testing.TB, c *http.Client, method, url string, header http.Header) (*harness.Answer, time.Duration) {
	t.Helper()
	start := time.Now()
	a := vsSend(t, c, method, url, header)
	return a, time.Since(start)
}

// waitVS waits until a GET of url through the client answers as ok says:
// the test's VirtualService has reached the client's sidecar.
func (s *vsMesh) waitVS(t testing.TB, url string, header http.Header, ok func(*harness.Answer) bool) {
	t.Helper()
	if _, err := harness.WaitForRoute(s.client.Client(), url, header, converge, ok); err != nil {
		t.Fatalf("the VirtualService did not take effect: %v", err)
	}
}

// checkShare fails the test unless hits out of total lie within five
// standard deviations of the share p. The count is binomial(total, p), so
// its share has standard deviation sqrt(p(1-p)/total); chance alone leaves
// five deviations with probability about 6e-7.
func checkShare(t *testing.T, what string, hits, total int, p float64) {
	t.Helper()
	share := float64(hits) / float64(total)
	tolerance := 5 * math.Sqrt(p*(1-p)/float64(total))
	t.Logf("%s: %d of %d, share %.3f (want %.3f ± %.3f, 5 sd)", what, hits, total, share, p, tolerance)
	if math.Abs(share-p) > tolerance {
		t.Errorf("%s: share %.3f is outside %.3f ± %.3f", what, share, p, tolerance)
	}
}

// checkCanary checks an 80/20 split over n requests or connections: none
// failed, all were answered by v1 or v2, and v2's share is 0.2 within five
// standard deviations.
func checkCanary(t *testing.T, unit string, count map[string]int, failures []string, n int) {
	t.Helper()
	if len(failures) > 0 {
		t.Errorf("%d of %d %s failed; first: %s", len(failures), n, unit, failures[0])
	}
	total := count["v1"] + count["v2"]
	if total != n-len(failures) {
		t.Errorf("%s answered by unexpected versions: %v", unit, count)
	}
	checkShare(t, "v2 ("+unit+")", count["v2"], total, 0.2)
}
