package folder

import (
	"strings"
	"testing"

	security "istio.io/api/security/v1beta1"
)

// TestLoadSecurityKinds: AuthorizationPolicy and RequestAuthentication in
// security.istio.io v1 and v1beta1 decode to the same snapshot types; a
// misspelt field is reported on its path and the object skipped; the
// RequestAuthentication remembers the document it came from.
func TestLoadSecurityKinds(t *testing.T) {
	snap := mustLoad(t, map[string]string{"policies.yaml": `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-catalogue, namespace: shop}
spec:
  action: DENY
  rules:
  - to:
    - operation: {paths: ["/catalogue"]}
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: shop}
spec: {}
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: typo, namespace: shop}
spec:
  rules:
  - to:
    - operation: {pahts: ["/x"]}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  jwtRules:
  - issuer: https://issuer.example
    jwksUri: https://issuer.example/jwks.json
---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: jwt-beta, namespace: shop}
spec:
  jwtRules:
  - issuer: https://other.example
    jwksUri: https://other.example/jwks.json
`})
	if got := len(snap.AuthorizationPolicies); got != 2 {
		t.Fatalf("%d AuthorizationPolicies, want 2 (the misspelt one skipped): %v", got, snap.Problems)
	}
	if a := snap.AuthorizationPolicies[0]; a.Name != "allow-nothing" || len(a.Spec.GetRules()) != 0 {
		t.Errorf("first policy %s with %d rules, want allow-nothing with none", a.Name, len(a.Spec.GetRules()))
	}
	if a := snap.AuthorizationPolicies[1]; a.Spec.GetAction() != security.AuthorizationPolicy_DENY ||
		a.Spec.GetRules()[0].GetTo()[0].GetOperation().GetPaths()[0] != "/catalogue" {
		t.Errorf("deny-catalogue decoded as %v", a.Spec)
	}
	p := findProblem(t, snap, "AuthorizationPolicy", "shop/typo")
	if p.Field != "spec.rules[0].to[0].operation.pahts" || !strings.Contains(p.Reason, "unknown field") || p.Source != "policies.yaml#2" {
		t.Errorf("problem %+v, want an unknown field at spec.rules[0].to[0].operation.pahts of policies.yaml#2", p)
	}
	if got := len(snap.RequestAuthentications); got != 2 {
		t.Fatalf("%d RequestAuthentications, want 2", got)
	}
	if ra := snap.RequestAuthentications[0]; ra.Name != "jwt" || ra.Origin != "policies.yaml#3" {
		t.Errorf("RequestAuthentication %s from %q, want jwt from policies.yaml#3", ra.Name, ra.Origin)
	}
	if snap.Root() != "istio-system" {
		t.Errorf("root namespace %q, want Istio's default istio-system", snap.Root())
	}
}
