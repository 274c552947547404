package e2ekube

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

// rateLimitPolicy for the sleep pod: global rules counted by service (a
// Service that does not exist makes it invalid), or local ones.
func rateLimitPolicy(global bool) string {
	limits := `  local:
    rules:
    - limit: {requests: 10, unit: Minute}
`
	if global {
		limits = `  global:
    service: ratelimit.nowhere:8081
    rules:
    - limit: {requests: 10, unit: Minute}
`
	}
	return `apiVersion: ratelimit.pilotlight.io/v1alpha1
kind: RateLimitPolicy
metadata:
  name: sleep
  namespace: sock-shop
spec:
  selector:
    matchLabels: {app: sleep}
` + limits
}

// sleepEnvoyFilter puts a buffer filter first on the sleep pod's outbound
// side.
const sleepEnvoyFilter = `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: sleep-buffer
  namespace: sock-shop
spec:
  workloadSelector:
    labels: {app: sleep}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_OUTBOUND
    patch:
      operation: INSERT_FIRST
      value:
        name: kube.buffer
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
          max_request_bytes: 65536
`

// TestKubeRateLimitPolicyAndEnvoyFilter: in Kubernetes mode the CRD (from
// deploy/crds) is read like the other kinds: an invalid RateLimitPolicy
// gets Istio-style status (IST0106 on spec.global.service), a fixed one
// Reconciled=True; and an EnvoyFilter patches the sidecars it selects.
func TestKubeRateLimitPolicyAndEnvoyFilter(t *testing.T) {
	e := newSockShop(t)
	p := e.startPilot("pilotlight-0")
	s := e.startSidecar(p, "sleep")
	e.waitDemo(s)

	e.c.ApplyObject(rateLimitPolicy(true))
	e.waitPolicyStatus("sleep", "False", "spec.global.service:", "IST0106")

	e.c.ApplyObject(sleepEnvoyFilter)
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		dump, err := harness.EnvoyConfigDump(s.admin())
		if err != nil {
			return err
		}
		if !strings.Contains(string(dump), "kube.buffer") {
			return fmt.Errorf("the sidecar has no kube.buffer filter yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	e.c.ApplyObject(rateLimitPolicy(false))
	e.waitPolicyStatus("sleep", "True", "", "")
	s.requireNoNacks(t)
}

// waitPolicyStatus waits until RateLimitPolicy name has condition
// Reconciled=status, a message with field (when set), and one validation
// message with code (when set; none otherwise).
func (e *env) waitPolicyStatus(name, status, field, code string) {
	t := e.t
	t.Helper()
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		st, _, err := e.c.RateLimitPolicyStatus(ns, name)
		if err != nil {
			return err
		}
		c := kube.Condition(st, "Reconciled")
		if c == nil || c.GetStatus() != status {
			return fmt.Errorf("RateLimitPolicy %s: status %s, want Reconciled=%s", name, kube.FormatStatus(st), status)
		}
		if field != "" && !strings.Contains(c.GetMessage(), field) {
			return fmt.Errorf("RateLimitPolicy %s: message %q does not name %s", name, c.GetMessage(), field)
		}
		msgs := st.GetValidationMessages()
		if (code == "" && len(msgs) != 0) || (code != "" && (len(msgs) != 1 || msgs[0].GetType().GetCode() != code)) {
			return fmt.Errorf("RateLimitPolicy %s: validation messages %s, want code %q", name, kube.FormatStatus(st), code)
		}
		t.Logf("RateLimitPolicy %s: %s", name, kube.FormatStatus(st))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
