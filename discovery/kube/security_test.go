package kube

import (
	"context"
	"testing"

	security "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func invalidAuthorizationPolicy() *securityv1.AuthorizationPolicy {
	return &securityv1.AuthorizationPolicy{ObjectMeta: objectMeta("bad-ip", nil), Spec: security.AuthorizationPolicy{
		Rules: []*security.Rule{{From: []*security.Rule_From{{Source: &security.Source{IpBlocks: []string{"10.0.0.300"}}}}}},
	}}
}

func invalidRequestAuthentication() *securityv1.RequestAuthentication {
	return &securityv1.RequestAuthentication{ObjectMeta: objectMeta("no-issuer", nil), Spec: security.RequestAuthentication{
		JwtRules: []*security.JWTRule{{JwksUri: "https://issuer.example/jwks.json"}},
	}}
}

// TestSecurityKindsFromCluster: AuthorizationPolicies and
// RequestAuthentications are read from the cluster into the snapshot,
// invalid ones reported on their field and left out, and a change to one
// is published.
func TestSecurityKindsFromCluster(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v1"))
	deny := &securityv1.AuthorizationPolicy{ObjectMeta: objectMeta("deny-catalogue", nil), Spec: security.AuthorizationPolicy{
		Action: security.AuthorizationPolicy_DENY,
		Rules:  []*security.Rule{{To: []*security.Rule_To{{Operation: &security.Operation{Paths: []string{"/catalogue"}}}}}},
	}}
	bad := invalidAuthorizationPolicy()
	jwt := &securityv1.RequestAuthentication{ObjectMeta: objectMeta("jwt", nil), Spec: security.RequestAuthentication{
		JwtRules: []*security.JWTRule{{Issuer: "https://issuer.example", JwksUri: "https://issuer.example/jwks.json"}},
	}}
	istio = append(istio, []runtime.Object{deny, bad, jwt}...)
	h := startSource(t, kube, istio)
	snap := h.next()
	if len(snap.AuthorizationPolicies) != 1 || snap.AuthorizationPolicies[0].Name != "deny-catalogue" ||
		snap.AuthorizationPolicies[0].Spec.GetAction() != security.AuthorizationPolicy_DENY {
		t.Fatalf("AuthorizationPolicies %v, want deny-catalogue alone", snap.AuthorizationPolicies)
	}
	if len(snap.Problems) != 1 || snap.Problems[0].Name != ns+"/bad-ip" || snap.Problems[0].Field != "spec.rules[0].from[0].source.ipBlocks[0]" {
		t.Errorf("problems %v, want bad-ip's ipBlocks", snap.Problems)
	}
	if len(snap.RequestAuthentications) != 1 || snap.RequestAuthentications[0].Origin != ns+"/jwt" {
		t.Errorf("RequestAuthentications %v", snap.RequestAuthentications)
	}
	if snap.Root() != "istio-system" {
		t.Errorf("root namespace %q", snap.Root())
	}

	deny.Spec.Action = security.AuthorizationPolicy_ALLOW
	deny.ResourceVersion = "2"
	if _, err := h.istio.SecurityV1().AuthorizationPolicies(ns).Update(context.Background(), deny, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if next := h.next(); next.AuthorizationPolicies[0].Spec.GetAction() != security.AuthorizationPolicy_ALLOW {
		t.Errorf("after the update: action %v", next.AuthorizationPolicies[0].Spec.GetAction())
	}
}
