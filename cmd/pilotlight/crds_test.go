package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

// TestCRDCheck: with Istio's networking CRDs only, /readyz's reason and
// the log name the missing security and telemetry ones; once they are
// served, the check is satisfied and stops.
func TestCRDCheck(t *testing.T) {
	kc := kubefake.NewClientset()
	kc.Resources = []*metav1.APIResourceList{{GroupVersion: "networking.istio.io/v1", APIResources: []metav1.APIResource{
		{Name: "virtualservices"}, {Name: "destinationrules"}, {Name: "gateways"}, {Name: "sidecars"},
	}}, {GroupVersion: "networking.istio.io/v1alpha3", APIResources: []metav1.APIResource{{Name: "envoyfilters"}}}}
	var logs bytes.Buffer
	c := &crdCheck{client: kc.Discovery(), log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx, 10*time.Millisecond) }()

	want := "authorizationpolicies.security.istio.io, peerauthentications.security.istio.io, requestauthentications.security.istio.io, telemetries.telemetry.istio.io"
	deadline := time.Now().Add(5 * time.Second)
	for c.notReady() == "" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := c.notReady(); !strings.Contains(got, want) || !strings.Contains(got, "kubectl apply -k deploy/") {
		t.Fatalf("notReady() = %q, want the missing %s", got, want)
	}
	kc.Resources = append(kc.Resources, &metav1.APIResourceList{GroupVersion: "security.istio.io/v1", APIResources: []metav1.APIResource{
		{Name: "authorizationpolicies"}, {Name: "peerauthentications"}, {Name: "requestauthentications"},
	}}, &metav1.APIResourceList{GroupVersion: "telemetry.istio.io/v1", APIResources: []metav1.APIResource{{Name: "telemetries"}}})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the check did not end once every CRD was served")
	}
	if got := c.notReady(); got != "" {
		t.Errorf("notReady() = %q after the CRDs appeared", got)
	}
	if !strings.Contains(logs.String(), "Istio CRDs missing") || !strings.Contains(logs.String(), "Istio CRDs present") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestRequiredResourcesAreInDeploy: every kind the check waits for has its
// CRD in deploy/crds.
func TestRequiredResourcesAreInDeploy(t *testing.T) {
	crds, err := os.ReadFile(filepath.Join("..", "..", "deploy", "crds", "istio-crds.gen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for gv, names := range requiredResources {
		group, _, _ := strings.Cut(gv, "/")
		for _, n := range names {
			if !bytes.Contains(crds, []byte("  name: "+n+"."+group+"\n")) {
				t.Errorf("deploy/crds has no CRD %s.%s", n, group)
			}
		}
	}
}
