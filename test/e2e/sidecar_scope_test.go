package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

const (
	paymentsURL     = "http://payments.pay/"
	paymentsCluster = "outbound|80||payments.pay.svc.cluster.local"
	// sidecarOwnNamespace is Istio's namespace default: egress to the
	// namespace's own services only.
	sidecarOwnNamespace = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
  namespace: sock-shop
spec:
  egress:
  - hosts: ["./*"]
`
)

// Istio's Sidecar on real Envoy: with sock-shop's default Sidecar
// admitting only its own namespace, the client cannot reach payments in
// namespace pay (its Envoy has no cluster, endpoints or route for it, so
// the request is a 404 from the sidecar), and still reaches front-end and
// catalogue; without the Sidecar, it reaches payments again. Live, no
// restart, no NACK (the harness checks).
func TestSidecarScopesWhatAProxyReaches(t *testing.T) {
	s := newSockShop(t, nil)
	pay := s.AddService("payments", 80, 8080)
	pay.Namespace = "pay"
	payments := s.AddPod("payments-v1", map[string]string{"app": "payments", "version": "v1"})
	payments.Namespace = "pay"
	s.Start()
	c := s.client.Client()
	if _, err := harness.WaitForRoute(c, paymentsURL, nil, converge, nil); err != nil {
		t.Fatalf("before the Sidecar: %v", err)
	}

	s.WriteFile("sidecar.yaml", sidecarOwnNamespace)
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		a, err := harness.Get(c, paymentsURL, "")
		if err != nil {
			return err
		}
		if a.Status != http.StatusNotFound {
			return fmt.Errorf("payments answered %v, want 404 from the sidecar (no route)", a)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clusters, err := harness.EnvoyClusters(s.client.Admin())
	if err != nil {
		t.Fatal(err)
	}
	if _, has := clusters[paymentsCluster]; has {
		t.Errorf("the client's Envoy still has %s", paymentsCluster)
	}
	if _, has := clusters[catalogueCluster]; !has {
		t.Errorf("the client's Envoy lost %s, which its Sidecar admits", catalogueCluster)
	}
	dump, err := harness.EnvoyConfigDump(s.client.Admin())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(dump), "payments.pay") {
		t.Error("the client's config dump still names payments.pay (a cluster, endpoints or a route)")
	}
	getOK(t, c, catalogueURL, "")
	getOK(t, c, frontEndURL, "")
	// payments' own sidecar is not scoped: it reaches sock-shop.
	getOK(t, payments.Client(), catalogueURL, "")

	s.RemoveFile("sidecar.yaml")
	if _, err := harness.WaitForRoute(c, paymentsURL, nil, converge, nil); err != nil {
		t.Fatalf("after the Sidecar went: %v", err)
	}
}
