package translate

import (
	"testing"

	networking "istio.io/api/networking/v1"
)

// TestMergeSubsetPolicy pins Istio's rules for a subset's policy: each of
// the four parts replaces the rule's part whole, and port-level settings
// replace all four (unset parts become defaults, not inherited).
func TestMergeSubsetPolicy(t *testing.T) {
	rr := &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_ROUND_ROBIN}}
	random := &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_RANDOM}}
	pool := &networking.ConnectionPoolSettings{Tcp: &networking.ConnectionPoolSettings_TCPSettings{MaxConnections: 7}}
	top := &networking.TrafficPolicy{LoadBalancer: rr, ConnectionPool: pool}
	sub := &networking.TrafficPolicy{
		LoadBalancer: random,
		PortLevelSettings: []*networking.TrafficPolicy_PortTrafficPolicy{{
			Port: &networking.PortSelector{Number: 9080}, LoadBalancer: rr,
		}},
	}

	got := mergeSubsetPolicy(top, sub, 80)
	if got.LoadBalancer != random || got.ConnectionPool != pool {
		t.Errorf("port 80: want the subset's loadBalancer and the rule's connectionPool, got %v", got)
	}
	got = mergeSubsetPolicy(top, sub, 9080)
	if got.LoadBalancer != rr || got.ConnectionPool != nil {
		t.Errorf("port 9080: want only the subset's port-level loadBalancer, got %v", got)
	}
	if got := mergeSubsetPolicy(top, nil, 80); got != top {
		t.Errorf("no subset policy: want the rule's policy, got %v", got)
	}
	if top.LoadBalancer != rr || len(sub.PortLevelSettings) != 1 {
		t.Errorf("merging changed its inputs")
	}
}

func TestParseOutboundClusterName(t *testing.T) {
	port, subset, host, ok := parseOutboundClusterName(OutboundClusterName(9080, "v2", "reviews.bookinfo.svc.cluster.local"))
	if !ok || port != 9080 || subset != "v2" || host != "reviews.bookinfo.svc.cluster.local" {
		t.Errorf("got %d %q %q %v", port, subset, host, ok)
	}
	for _, name := range []string{"inbound|8080||", "outbound|x||h", "outbound|80", "BlackHoleCluster"} {
		if _, _, _, ok := parseOutboundClusterName(name); ok {
			t.Errorf("%q parsed as an outbound cluster name", name)
		}
	}
}
