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
	m := startReleaseMesh(t, nil)
	client, gw := m.client, m.gw
	loads := m.startLoads(2)
	defer loads.stop()

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
		loads.flow(t, 100)
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
		loads.flow(t, 100)
	}
	if n := loads.failures(t); n > 0 {
		t.Errorf("%d requests failed, want none", n)
	}
}
