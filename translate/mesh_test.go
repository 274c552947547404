package translate

import (
	"testing"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// Pods with the same ports get the same inbound cluster messages (marshaled
// once for all of them), and what one proxy's view appends after them does
// not reach another's.
func TestPodsWithTheSamePortsShareInboundClusters(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	m := NewMesh(snap)
	view := func(i int) *Resources {
		pod := snap.Pods[i]
		return m.ForProxy(Proxy{Type: Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace})
	}
	a, b := view(0), view(3) // pods of two services, both on port 8080
	if a.Clusters[0].Name != InboundClusterName(8080) || a.Clusters[0] != b.Clusters[0] {
		t.Fatalf("first clusters %q (%p) and %q (%p): want one shared %q", a.Clusters[0].Name, a.Clusters[0], b.Clusters[0].Name, b.Clusters[0], InboundClusterName(8080))
	}
	if again := view(0); len(again.Clusters) != len(a.Clusters) {
		t.Errorf("the same proxy's view has %d clusters, then %d", len(a.Clusters), len(again.Clusters))
	}
	for i, c := range a.Clusters {
		if c != b.Clusters[i] {
			t.Errorf("cluster %d: %q and %q", i, c.Name, b.Clusters[i].Name)
		}
	}
}
