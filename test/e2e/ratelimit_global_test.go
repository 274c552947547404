package e2e

import (
	"net/http"
	"testing"
	"time"
)

// plansPolicy is the tutorial's global limit as one RateLimitPolicy: per
// account (x-account), BASIC (x-plan) may send 1 request a minute and PLUS
// 2. Pilotlight turns it into the gateway's ratelimit filter and into the
// rate-limit service's limits, which it serves to the service over xDS.
// failureMode Deny: when the service cannot be asked, requests fail.
const plansPolicy = `apiVersion: ratelimit.pilotlight.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: plans, namespace: istio-system}
spec:
  selector:
    matchLabels: {istio: ingressgateway}
  global:
    failureMode: Deny
    rules:
    - clientSelectors:
      - headers:
        - {name: x-plan, value: BASIC}
        - {name: x-account, type: Distinct}
      limit: {requests: 1, unit: Minute}
    - clientSelectors:
      - headers:
        - {name: x-plan, value: PLUS}
        - {name: x-account, type: Distinct}
      limit: {requests: 2, unit: Minute}
`

// tutorialPlans: BASIC 1×200 1×429, PLUS 2×200 2×429, another account its
// own budget, no headers never limited.
func tutorialPlans() []planCase {
	user, other, plus := uniqueAccount("user"), uniqueAccount("other"), uniqueAccount("plus")
	return []planCase{
		{plan: "BASIC", account: user, n: 2, ok: 1},
		{plan: "BASIC", account: other, n: 2, ok: 1},
		{plan: "PLUS", account: plus, n: 4, ok: 2},
		{n: 5, ok: 5},
		{plan: "BASIC", n: 3, ok: 3}, // no account: no descriptor, not limited
	}
}

// TestRateLimitGlobalPolicyThroughGateway is the tutorial's global case
// with our own policy: the limits are enforced through the ingress gateway
// by the real ratelimit service, whose limits came from pilotlight; a
// refused request is Envoy's 429 with x-envoy-ratelimited.
func TestRateLimitGlobalPolicyThroughGateway(t *testing.T) {
	s := startRateLimitShop(t, rlShopOptions{rlNamespace: "pilotlight-system", files: map[string]string{"plans.yaml": plansPolicy}})
	s.waitServiceConfig(t)
	s.checkPlans(t, tutorialPlans())

	account := uniqueAccount("headers")
	header := http.Header{"X-Plan": {"BASIC"}, "X-Account": {account}}
	waitMinuteStart(t)
	if a := s.gatewayAnswer(t, header); a.Status != http.StatusOK || a.Header.Get("X-Ratelimit-Limit") == "" {
		t.Errorf("first BASIC request: %d, x-ratelimit-limit %q; want 200 with the limit's headers", a.Status, a.Header.Get("X-Ratelimit-Limit"))
	}
	if a := s.gatewayAnswer(t, header); a.Status != http.StatusTooManyRequests || a.Header.Get("X-Envoy-Ratelimited") != "true" {
		t.Errorf("second BASIC request: %d, x-envoy-ratelimited %q; want 429 from Envoy's ratelimit filter", a.Status, a.Header.Get("X-Envoy-Ratelimited"))
	}
}

// TestRateLimitServiceRestarts: a restarted rate-limit service loads its
// limits from pilotlight again; while it is down, failureMode Deny refuses
// requests it would count; a restarted pilotlight leaves the service with
// its last limits, and serves them again when it is back.
func TestRateLimitServiceRestarts(t *testing.T) {
	s := startRateLimitShop(t, rlShopOptions{rlNamespace: "pilotlight-system", files: map[string]string{"plans.yaml": plansPolicy}})
	s.waitServiceConfig(t)
	s.checkPlans(t, []planCase{{plan: "BASIC", account: uniqueAccount("before"), n: 2, ok: 1}})

	// Down: fail closed (Envoy answers 500 when the call fails).
	if err := s.rl.Process.Stop(); err != nil {
		t.Logf("stopping the ratelimit service: %v", err)
	}
	if a := s.gatewayAnswer(t, http.Header{"X-Plan": {"BASIC"}, "X-Account": {uniqueAccount("down")}}); a.Status != http.StatusInternalServerError {
		t.Errorf("with the rate-limit service down: %d, want 500 (failureMode Deny)", a.Status)
	}
	if a := s.gatewayAnswer(t, nil); a.Status != http.StatusOK {
		t.Errorf("a request no rule counts, with the service down: %d, want 200 (no call is made)", a.Status)
	}

	// A fresh service process knows no limits until pilotlight sends them.
	s.rl.Start()
	s.waitServiceConfig(t)
	s.checkPlans(t, []planCase{{plan: "BASIC", account: uniqueAccount("restarted"), n: 2, ok: 1}})

	// Pilotlight goes away: the service keeps enforcing what it has.
	s.StopPilotlight()
	time.Sleep(2 * time.Second) // the service notices the broken stream and starts reconnecting
	s.checkPlans(t, []planCase{
		{plan: "BASIC", account: uniqueAccount("cp-down"), n: 2, ok: 1},
		{plan: "PLUS", account: uniqueAccount("cp-down"), n: 3, ok: 2},
	})
	s.StartPilotlightAgain()
	s.waitServiceConfig(t)
	s.checkPlans(t, []planCase{{plan: "PLUS", account: uniqueAccount("cp-back"), n: 3, ok: 2}})
}
