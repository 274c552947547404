package translate

import (
	"fmt"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/discovery/folder"
)

// BenchmarkTranslateDemoMesh: the whole view of every pod of the demo mesh,
// from a fresh Mesh each time (nothing memoized across iterations).
func BenchmarkTranslateDemoMesh(b *testing.B) {
	snap, err := folder.Load("../examples/sockshop")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		translateAll(snap)
	}
}

// BenchmarkTranslateSyntheticMesh: meshes of S services × 4 pods, every
// pod's view. Shared parts are built once per Mesh, so the cost per proxy
// is its own listeners and inbound clusters.
// mode=captured is the same with every sidecar in iptables mode.
func BenchmarkTranslateSyntheticMesh(b *testing.B) {
	for _, mode := range []InterceptionMode{InterceptNone, InterceptRedirect} {
		for _, services := range []int{10, 100, 500} {
			snap := discoverytest.Synthetic(services, 4)
			b.Run(fmt.Sprintf("mode=%s,services=%d,proxies=%d", mode, services, len(snap.Pods)), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					translateAllAs(snap, mode)
				}
			})
		}
	}
}

func translateAll(snap *discovery.Snapshot) { translateAllAs(snap, InterceptNone) }

func translateAllAs(snap *discovery.Snapshot, mode InterceptionMode) {
	m := NewMesh(snap)
	for _, pod := range snap.Pods {
		m.ForProxy(Proxy{Type: Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace, Interception: mode})
	}
}
