package translate

import (
	"testing"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// Proxies of the same clusters get the very same list, in each way a
// proxy's clusters are made (local mode, capture mode, a gateway), and the
// list is clipped: what appends to one proxy's gets a copy.
func TestProxiesOfTheSameClustersShareTheList(t *testing.T) {
	snap := discoverytest.Synthetic(3, 2)
	m := NewMesh(snap)
	proxy := func(i int, mode InterceptionMode) Proxy {
		pod := snap.Pods[i]
		return Proxy{Type: Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace, Interception: mode}
	}
	for _, mode := range []InterceptionMode{InterceptNone, InterceptRedirect} {
		a, b := m.ForProxy(proxy(0, mode)).Clusters, m.ForProxy(proxy(1, mode)).Clusters
		if len(a) == 0 || &a[0] != &b[0] || len(a) != len(b) {
			t.Fatalf("%s: two pods of the same ports got lists of %d and %d clusters, not one list", mode, len(a), len(b))
		}
		if cap(a) != len(a) {
			t.Errorf("%s: the shared list has room to append (%d of %d)", mode, len(a), cap(a))
		}
	}
	local, captured := m.ForProxy(proxy(0, InterceptNone)).Clusters, m.ForProxy(proxy(0, InterceptRedirect)).Clusters
	if len(captured) <= len(local) {
		t.Errorf("captured: %d clusters, local: %d; want the passthrough clusters on top", len(captured), len(local))
	}
	gateway := Proxy{Type: Router, PodName: "no-such-pod", Namespace: "load"}
	if g := m.ForProxy(gateway).Clusters; len(g) != len(m.outboundClusters()) || &g[0] != &m.outboundClusters()[0] {
		t.Errorf("a proxy of the outbound clusters only: %d clusters, not the outbound list", len(g))
	}
}
