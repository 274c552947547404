package e2e

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// rotationTTL is the workload certificate lifetime of the rotation test:
// pilotlight renews each certificate after half of it.
const rotationTTL = 20 * time.Second

// TestCertificateRotationUnderLoad: with 20 s certificates, steady
// traffic from sleep to front-end for 35 s (a new upstream mTLS connection
// for every request, so every handshake after a renewal uses the new
// certificates) gets only 200s, while both proxies' certificates are
// replaced several times.
func TestCertificateRotationUnderLoad(t *testing.T) {
	m := harness.NewMesh(t, ns)
	m.ServeArgs = []string{"--workload-cert-ttl", rotationTTL.String()}
	m.AddService("front-end", 80, 8080)
	frontEnd := m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	sleep := m.AddClient("sleep")
	m.WriteFile("rule.yaml", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: front-end, namespace: sock-shop}
spec:
  host: front-end
  trafficPolicy:
    connectionPool:
      http: {maxRequestsPerConnection: 1}
`)
	m.Start()
	wantCaller(t, "sleep -> front-end", meshGet(t, m, "http://front-end.sock-shop/"), "spiffe://cluster.local/ns/sock-shop/sa/default")

	seen := map[string]map[string]bool{sleep.Name: {}, frontEnd.Name: {}}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, p := range []*harness.Pod{sleep, frontEnd} {
				serials, err := workloadSerials(p.Admin())
				mu.Lock()
				for _, s := range serials {
					seen[p.Name][s] = true
				}
				mu.Unlock()
				if err != nil {
					t.Logf("reading %s's certificates: %v", p.Name, err)
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	r, err := harness.FortioLoad(t, "-c", "2", "-qps", "20", "-t", "35s", "-keepalive=false", "-timeout", "5s",
		"-H", "Host: front-end.sock-shop", "http://"+sleep.ProxyAddr()+"/")
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %s", r)
	if r.Calls() < 300 || r.RetCodes["200"] != r.Calls() {
		t.Errorf("during rotations: %s, want only 200s (and at least 300 calls)", r)
	}
	for name, serials := range seen {
		t.Logf("%s presented %d certificates", name, len(serials))
		// 35 s of 20 s certificates renewed at half-life: the first and at
		// least two renewals.
		if len(serials) < 3 {
			t.Errorf("%s presented %d certificates (%v), want at least 3", name, len(serials), sortedKeys(serials))
		}
	}
}

// workloadSerials lists the serial numbers of the SPIFFE certificates an
// Envoy holds (admin /certs: every TLS context's certificate chain).
func workloadSerials(admin string) ([]string, error) {
	var page struct {
		Certificates []struct {
			CertChain []struct {
				SerialNumber    string `json:"serial_number"`
				SubjectAltNames []struct {
					URI string `json:"uri"`
				} `json:"subject_alt_names"`
			} `json:"cert_chain"`
		} `json:"certificates"`
	}
	if err := harness.GetJSON("http://"+admin+"/certs", &page); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range page.Certificates {
		for _, cert := range c.CertChain {
			for _, san := range cert.SubjectAltNames {
				if strings.HasPrefix(san.URI, "spiffe://") {
					out = append(out, cert.SerialNumber)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no SPIFFE certificate in %s/certs", admin)
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
