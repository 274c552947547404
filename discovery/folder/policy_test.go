package folder

import (
	"testing"
	"time"
)

const localRateLimitFilter = `
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: filter-local-ratelimit-svc
  namespace: istio-system
spec:
  workloadSelector:
    labels:
      app: catalogue
  configPatches:
    - applyTo: HTTP_FILTER
      match:
        context: SIDECAR_INBOUND
        listener:
          filterChain:
            filter:
              name: "envoy.filters.network.http_connection_manager"
      patch:
        operation: INSERT_BEFORE
        value:
          name: envoy.filters.http.local_ratelimit
          typed_config:
            "@type": type.googleapis.com/udpa.type.v1.TypedStruct
            type_url: type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
            value:
              stat_prefix: http_local_rate_limiter
              token_bucket: {max_tokens: 10, tokens_per_fill: 10, fill_interval: 60s}
`

const plansPolicy = `
apiVersion: ratelimit.pilotlight.io/v1alpha1
kind: RateLimitPolicy
metadata:
  name: plans
  namespace: sock-shop
spec:
  selector:
    matchLabels: {app: catalogue}
  local:
    rules:
    - limit: {requests: 10, unit: Minute}
  global:
    service: ratelimit.sock-shop:8081
    failureMode: Deny
    timeout: 250ms
    rules:
    - clientSelectors:
      - headers:
        - {name: x-plan, value: BASIC}
        - {name: x-account, type: Distinct}
      limit: {requests: 1, unit: Minute}
`

const rateLimitService = `
apiVersion: v1
kind: Service
metadata: {name: ratelimit, namespace: sock-shop}
spec:
  selector: {app: ratelimit}
  ports: [{name: grpc, port: 8081}]
`

// TestLoadEnvoyFilterAndRateLimitPolicy: both kinds decode with every field
// kept (the patch value is opaque here; translate decodes it).
func TestLoadEnvoyFilterAndRateLimitPolicy(t *testing.T) {
	snap := mustLoad(t, map[string]string{"filter.yaml": localRateLimitFilter, "policy.yaml": plansPolicy, "svc.yaml": rateLimitService})
	noProblems(t, snap)
	if len(snap.EnvoyFilters) != 1 || len(snap.RateLimitPolicies) != 1 {
		t.Fatalf("got %d EnvoyFilters and %d RateLimitPolicies, want 1 and 1", len(snap.EnvoyFilters), len(snap.RateLimitPolicies))
	}
	f := snap.EnvoyFilters[0]
	value := f.Spec.ConfigPatches[0].GetPatch().GetValue().GetFields()["typed_config"].GetStructValue()
	if got := value.GetFields()["type_url"].GetStringValue(); got != "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit" {
		t.Errorf("patch value type_url = %q", got)
	}
	p := snap.RateLimitPolicies[0]
	if p.Kind != "RateLimitPolicy" || p.Key() != "sock-shop/plans" {
		t.Errorf("policy meta = %+v", p.Meta)
	}
	g := p.Spec.Global
	if g.Timeout.Duration != 250*time.Millisecond || g.FailureMode != "Deny" || g.Rules[0].ClientSelectors[0].Headers[1].Type != "Distinct" {
		t.Errorf("global = %+v", g)
	}
}

// TestLoadRateLimitPolicyProblems: a misspelt field and a missing service
// are reported on their fields, and the policy is left out.
func TestLoadRateLimitPolicyProblems(t *testing.T) {
	snap := mustLoad(t, map[string]string{"policy.yaml": `
apiVersion: ratelimit.pilotlight.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: typo, namespace: sock-shop}
spec:
  local:
    rules:
    - limit: {requests: 10, unti: Minute}
---
apiVersion: ratelimit.pilotlight.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: nowhere, namespace: sock-shop}
spec:
  global:
    rules:
    - limit: {requests: 1, unit: Second}
`})
	if len(snap.RateLimitPolicies) != 0 {
		t.Fatalf("invalid policies were kept: %v", snap.RateLimitPolicies)
	}
	typo := findProblem(t, snap, "RateLimitPolicy", "sock-shop/typo")
	if typo.Field != "spec.local.rules[0].limit.unti" || typo.Source != "policy.yaml#0" {
		t.Errorf("typo problem = %+v", typo)
	}
	nowhere := findProblem(t, snap, "RateLimitPolicy", "sock-shop/nowhere")
	if nowhere.Field != "spec.global.service" || nowhere.Source != "policy.yaml#1" {
		t.Errorf("missing service problem = %+v", nowhere)
	}
}
