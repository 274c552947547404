package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Stuck after cleanup (issue 12): an edit that gives a pod an address Envoy
// cannot bind (a client's local address, a gateway's pod IP, "not-an-ip")
// once made Envoy NACK after it had dropped the listener the bad one
// replaced; the proxy refused every request, and stayed broken after the
// file was restored. Now the bad listener is reported and never sent, the
// proxy keeps the one it has, and the restored file changes nothing it
// serves. Traffic through the sidecar and the gateway never fails, and no
// Envoy NACKs (checked by the harness).
func TestABadAddressEditIsReportedAndTrafficGoesOn(t *testing.T) {
	m := harness.NewMesh(t, ns)
	m.AddService("front-end", 80, 8080)
	m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	m.AddPod("front-end-v2", map[string]string{"app": "front-end", "version": "v2"})
	client := m.AddClient("sleep")
	gw := harness.AddGateway(m, "ingressgateway", map[string]string{"app": "ingressgateway", "istio": "ingressgateway"}, gwHTTPPort)
	m.WriteFile("gateway.yaml", shopGatewayHTTP)
	m.WriteFile("release.yaml", releaseTo("v1"))
	m.Start()
	gw.Start()
	if _, err := harness.WaitForRoute(gw.Client(nil), shopURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForRoute(client.Client(), frontEndURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	loads := map[string]*load{
		"gateway": startLoad(gw.Client(nil), shopURL, 2),
		"sidecar": startLoad(client.Client(), frontEndURL, 2),
	}
	stopped := false
	stop := func() map[string][]shot {
		out := map[string][]shot{}
		if !stopped {
			stopped = true
			for name, l := range loads {
				out[name] = l.stop()
			}
		}
		return out
	}
	defer stop()
	// trafficFlows waits until both loops have made n more requests.
	trafficFlows := func(n int) {
		t.Helper()
		for name, l := range loads {
			l.mu.Lock()
			done := len(l.results)
			l.mu.Unlock()
			if err := l.waitRequests(done+n, converge); err != nil {
				t.Fatalf("through the %s: %v", name, err)
			}
		}
	}

	_, _, podsYAML := m.BaseConfig()
	goodGateway := (&harness.Pod{Name: gw.Name, Namespace: gw.Namespace, Labels: gw.Labels, NoApp: true, PodIP: gw.PodIP, Local: gw.Local}).YAML()
	badGateway := (&harness.Pod{Name: gw.Name, Namespace: gw.Namespace, Labels: gw.Labels, NoApp: true, PodIP: "not-an-ip", Local: gw.Local}).YAML()
	for _, edit := range []struct {
		name, file, bad, good, pod string
	}{
		{"the client's local address", "pods.yaml", strings.Replace(podsYAML, client.Local, "not-an-ip", 1), podsYAML, "sleep"},
		{"the gateway's pod IP", "gateway-ingressgateway.yaml", badGateway, goodGateway, "ingressgateway"},
	} {
		m.WriteFile(edit.file, edit.bad)
		if err := harness.Eventually(converge, 50*time.Millisecond, func() error {
			raw, _, err := m.Problems()
			if err != nil {
				return err
			}
			if !strings.Contains(string(raw), edit.pod) || !strings.Contains(string(raw), "not-an-ip") {
				return fmt.Errorf("no problem about %s yet: %s", edit.pod, raw)
			}
			return nil
		}); err != nil {
			t.Fatalf("%s set to not-an-ip: %v", edit.name, err)
		}
		trafficFlows(100)
		m.WriteFile(edit.file, edit.good)
		if err := harness.Eventually(converge, 50*time.Millisecond, func() error {
			raw, entries, err := m.Problems()
			if err != nil {
				return err
			}
			if len(entries) > 0 {
				return fmt.Errorf("problems left after the fix: %s", raw)
			}
			return nil
		}); err != nil {
			t.Fatalf("%s restored: %v", edit.name, err)
		}
		trafficFlows(100)
	}
	for name, results := range stop() {
		failed := 0
		for _, r := range results {
			if r.err != "" {
				if failed < 5 {
					t.Errorf("through the %s: request at %s failed: %s", name, r.start.Format("15:04:05.000"), r.err)
				}
				failed++
			}
		}
		t.Logf("through the %s: %d requests, %d failed", name, len(results), failed)
		if failed > 0 {
			t.Errorf("through the %s: %d requests failed, want none", name, failed)
		}
	}
}
