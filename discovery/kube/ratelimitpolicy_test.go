package kube

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	ratelimitv1alpha1 "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
)

func rateLimitPolicy(name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": ratelimitv1alpha1.GroupVersion.String(), "kind": ratelimitv1alpha1.Kind,
		"metadata": map[string]any{"name": name, "namespace": ns, "generation": int64(1)},
		"spec":     spec,
	}}
	return u
}

// invalidRateLimitPolicy misspells a field.
func invalidRateLimitPolicy() *unstructured.Unstructured {
	return rateLimitPolicy("typo", map[string]any{"local": map[string]any{"rules": []any{
		map[string]any{"limit": map[string]any{"requests": int64(10), "unti": "Minute"}},
	}}})
}

// TestRateLimitPolicies: valid policies reach the snapshot; an invalid one
// is left out, reported, and gets Istio-style status.
func TestRateLimitPolicies(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v1"))
	valid := rateLimitPolicy("catalogue", map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": "catalogue"}},
		"local":    map[string]any{"rules": []any{map[string]any{"limit": map[string]any{"requests": int64(10), "unit": "Minute"}}}},
	})
	h := startSource(t, kube, istio, valid, invalidRateLimitPolicy())
	snap := h.next()
	if len(snap.RateLimitPolicies) != 1 || snap.RateLimitPolicies[0].Name != "catalogue" || snap.RateLimitPolicies[0].Spec.Local.Rules[0].Limit.Requests != 10 {
		t.Fatalf("policies %v", snap.RateLimitPolicies)
	}
	found := false
	for _, p := range snap.Problems {
		found = found || (p.Kind == ratelimitv1alpha1.Kind && p.Name == ns+"/typo" && strings.Contains(p.Reason, "unti"))
	}
	if !found {
		t.Fatalf("no problem for the misspelt policy: %v", snap.Problems)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.src.WriteStatus(ctx) }()
	eventually(t, "status on the invalid policy", func() bool { return statusWrites(h) >= 1 })
	cancel()
	<-done
	got, err := h.dynamic.Resource(ratelimitv1alpha1.Resource).Namespace(ns).Get(context.Background(), "typo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	if len(conds) != 1 || conds[0].(map[string]any)["status"] != "False" || !strings.Contains(conds[0].(map[string]any)["message"].(string), "unti") {
		t.Errorf("status conditions %v", conds)
	}
	msgs, _, _ := unstructured.NestedSlice(got.Object, "status", "validationMessages")
	if len(msgs) != 1 || !strings.Contains(stringOf(msgs[0]), "IST0106") {
		t.Errorf("validation messages %v", msgs)
	}
	if valid, _ := h.dynamic.Resource(ratelimitv1alpha1.Resource).Namespace(ns).Get(context.Background(), "catalogue", metav1.GetOptions{}); valid.Object["status"] != nil {
		t.Errorf("a valid policy got status %v", valid.Object["status"])
	}
}

func stringOf(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				b.WriteString(k + "=")
				walk(e)
				b.WriteString(" ")
			}
		case string:
			b.WriteString(x)
		}
	}
	walk(v)
	return b.String()
}
