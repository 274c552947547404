package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestDeltaXDS runs the sock shop with every Envoy on incremental (Delta)
// xDS: routing follows a VirtualService change, and deleting the
// DestinationRule removes its subset clusters from Envoy (a Delta removal),
// after which traffic falls back to the whole service.
func TestDeltaXDS(t *testing.T) {
	s := newSockShop(t, map[string]string{
		"front-end-destinationrule.yaml": destinationRuleFrontEnd,
		"front-end-virtualservice.yaml":  virtualServiceAllTo("v1"),
	})
	s.BootstrapArgs = []string{"--delta"}
	s.Start()

	dump, err := harness.EnvoyConfigDump(s.client.Admin())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dump), "DELTA_GRPC") {
		t.Fatal("the client's Envoy does not run Delta xDS (no DELTA_GRPC in its bootstrap)")
	}
	s.waitClusters(t, frontEndV1Cluster, frontEndV2Cluster)
	c := s.client.Client()
	if _, err := harness.WaitForRoute(c, frontEndURL, nil, converge, servedByVersion("v1")); err != nil {
		t.Fatal(err)
	}

	s.WriteFile("front-end-virtualservice.yaml", virtualServiceAllTo("v2"))
	if _, err := harness.WaitForRoute(c, frontEndURL, nil, converge, servedByVersion("v2")); err != nil {
		t.Fatal(err)
	}

	// Without its rules, front-end has no subsets: Envoy must drop them.
	s.RemoveFile("front-end-virtualservice.yaml")
	s.RemoveFile("front-end-destinationrule.yaml")
	deadline := time.Now().Add(converge)
	for {
		clusters, err := harness.EnvoyClusters(s.client.Admin())
		if err != nil {
			t.Fatal(err)
		}
		_, v1 := clusters[frontEndV1Cluster]
		_, v2 := clusters[frontEndV2Cluster]
		if !v1 && !v2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subset clusters still in Envoy %v after the DestinationRule was deleted", converge)
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := map[string]int{}
	for i := 0; i < 40; i++ {
		seen[getOK(t, c, frontEndURL, "").Echo.Version]++
	}
	if seen["v1"] == 0 || seen["v2"] == 0 {
		t.Errorf("with no VirtualService, 40 requests reached only %v: want both versions", seen)
	}
}
