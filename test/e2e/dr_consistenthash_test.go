package e2e

import (
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestDestinationRuleConsistentHashBySourceIP: with consistentHash
// useSourceIp, every request from one client reaches the same one of three
// endpoints (Envoy RING_HASH, route hash_policy connection_properties
// source_ip), while ROUND_ROBIN on the same three pods spreads requests
// over all of them. Clients at other addresses land on other endpoints.
func TestDestinationRuleConsistentHashBySourceIP(t *testing.T) {
	const (
		endpoints = 3
		requests  = 30
		sources   = 12 // other clients: all on one endpoint of 3 would be chance (3/3^12)
	)
	m := harness.NewMesh(t, drNamespace)
	m.AddService("ratings", 80, 8080)
	// ratings-rr selects the same pods: the contrast, balanced round robin.
	m.AddService("ratings-rr", 80, 8080).Selector = map[string]string{"app": "ratings"}
	addPods(m, "ratings", endpoints)
	client := m.AddClient("sleep")
	m.WriteFile("ratings-destinationrule.yaml", destinationRule("ratings", `  trafficPolicy:
    loadBalancer:
      consistentHash:
        useSourceIp: true
`)+"---\n"+destinationRule("ratings-rr", `  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
`))
	m.Start()
	waitHosts(t, client.Admin(), drCluster("ratings"), endpoints)
	waitHosts(t, client.Admin(), drCluster("ratings-rr"), endpoints)

	// One client: its pod's address, as an app in the pod would call from.
	c := harness.ProxyClientFrom(client.Local, client.PodIP)
	hashed := servedBy(t, c, drURL("ratings", "/"), requests)
	t.Logf("consistent hash, one client, %d requests: %s", requests, formatCounts(hashed))
	if len(hashed) != 1 {
		t.Errorf("one client reached %d endpoints (%s), want always the same one", len(hashed), formatCounts(hashed))
	}

	spread := servedBy(t, c, drURL("ratings-rr", "/"), requests)
	t.Logf("round robin, same client, %d requests: %s", requests, formatCounts(spread))
	if len(spread) != endpoints {
		t.Errorf("round robin reached %d endpoints (%s), want all %d", len(spread), formatCounts(spread), endpoints)
	}

	// Other clients: each sticks to its endpoint, and they do not all share one.
	reached := map[string]int{}
	for i := 0; i < sources; i++ {
		ip := harness.AllocPod(t).PodIP // a fresh address nobody else uses
		got := servedBy(t, harness.ProxyClientFrom(client.Local, ip), drURL("ratings", "/"), 3)
		if len(got) != 1 {
			t.Errorf("client %s reached %d endpoints (%s), want one", ip, len(got), formatCounts(got))
		}
		for pod := range got {
			reached[pod]++
		}
	}
	t.Logf("consistent hash, %d other clients, by endpoint: %s", sources, formatCounts(reached))
	if len(reached) < 2 {
		t.Errorf("%d clients at different addresses all hashed to %s, want them spread", sources, formatCounts(reached))
	}
}
