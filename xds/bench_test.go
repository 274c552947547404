package xds

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// BenchmarkPushToConnectedProxies measures one mesh change reaching N
// connected ADS clients: recompute every view, and each client receives and
// ACKs its new clusters. Mesh: 50 services × 4 pods.
func BenchmarkPushToConnectedProxies(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("proxies=%d", n), func(b *testing.B) {
			base := discoverytest.SyntheticWithClients(50, 4, n)
			// All clients share one connection: allow them the streams.
			ts := newTestServerWith(b, base, Limits{MaxStreamsPerConnection: 2 * n})
			clients := make([]*xdstest.Client, n)
			for i := range clients {
				c, err := xdstest.Open(podContext(base.Pods[i]), ts.conn, proxyOf(base.Pods[i]).NodeID())
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Subscribe(resourcev3.ClusterType); err != nil {
					b.Fatal(err)
				}
				ack(b, c)
				clients[i] = c
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Alternate between 51 and 50 services (the base has 50): every push
				// changes CDS, so every client gets a response.
				ts.apply(discoverytest.SyntheticWithClients(51-i%2, 4, n))
				for _, c := range clients {
					ack(b, c)
				}
			}
		})
	}
}

// benchNodeID gives every client its own node: the sidecar of a pod of the
// mesh while there are pods, then pods the mesh does not know (which get
// the outbound part of a view only).
func benchNodeID(snap *discovery.Snapshot, i int) string {
	if i < len(snap.Pods) {
		return proxyOf(snap.Pods[i]).NodeID()
	}
	return fmt.Sprintf("sidecar~10.200.0.1~extra-%d.load~load.svc.cluster.local", i)
}

func ack(b testing.TB, c *xdstest.Client) {
	resp, err := c.Recv()
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Ack(resp); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkApplyFullChange: one mesh change recomputing the view of every
// proxy (translate, marshal and check each resource once, build each
// view), with no stream attached: what the checks before sending cost
// shows here. Mesh: 100 services × 4 pods, a sidecar on every pod.
func BenchmarkApplyFullChange(b *testing.B) {
	base := discoverytest.Synthetic(100, 4)
	ts := newTestServer(b, base)
	for _, pod := range base.Pods {
		ts.register(b, proxyOf(pod).NodeID())
	}
	changed := []*discovery.Snapshot{discoverytest.Synthetic(101, 4), base}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts.apply(changed[i%2])
	}
}

// BenchmarkRouteChangeAfterEndpointChange: what a mesh with pods coming
// and going sees: an endpoint change (only load assignments resolved),
// then a VirtualService's weights change (every view again). Each
// snapshot keeps the objects it does not change, as a source does. The
// route change should make, marshal and check again only what it
// changed. Mesh: 100 services × 4 pods, a sidecar on every pod.
func BenchmarkRouteChangeAfterEndpointChange(b *testing.B) {
	base := discoverytest.Synthetic(100, 4)
	ts := newTestServer(b, base)
	for _, pod := range base.Pods {
		ts.register(b, proxyOf(pod).NodeID())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts.apply(variant(base, uint64(2*i+2), func(s *discovery.Snapshot) { setReady(s, 1, i%2 == 1) }))
		ts.apply(variant(base, uint64(2*i+3), func(s *discovery.Snapshot) {
			setReady(s, 1, i%2 == 1)
			vs := *s.VirtualServices[0]
			vs.Spec = proto.Clone(vs.Spec).(*networking.VirtualService)
			vs.Spec.Http[0].Route[0].Weight, vs.Spec.Http[0].Route[1].Weight = int32(10+i%2), int32(90-i%2)
			s.VirtualServices = append(slices.Clone(s.VirtualServices[:0]), &vs)
			s.VirtualServices = append(s.VirtualServices, base.VirtualServices[1:]...)
		}))
	}
}

// variant is base with change made to a shallow copy: the objects change
// does not replace are base's, as a source hands over again the objects
// of files that did not change.
func variant(base *discovery.Snapshot, version uint64, change func(*discovery.Snapshot)) *discovery.Snapshot {
	s := *base
	s.Version = version
	change(&s)
	return s.Seal()
}

// setReady sets the readiness of the first service's pod i (a new Pod and
// Endpoint; the lists copied).
func setReady(s *discovery.Snapshot, i int, ready bool) {
	key := s.Services[0].Key()
	s.Endpoints = maps.Clone(s.Endpoints)
	eps := slices.Clone(s.Endpoints[key])
	ep := *eps[i]
	ep.Ready = ready
	eps[i] = &ep
	s.Endpoints[key] = eps
	s.Pods = slices.Clone(s.Pods)
	for j, p := range s.Pods {
		if p.Name == ep.PodName && p.Namespace == s.Services[0].Namespace {
			pod := *p
			pod.Ready = ready
			s.Pods[j] = &pod
		}
	}
}

// BenchmarkApplyEndpointChange: one pod flips ready in the mesh of the load
// harness (1,000 services × 10 pods, subsets and a VirtualService each)
// while N proxies are known: all that happens before the first byte of the
// change leaves, for the server's part (the source's read is apart).
func BenchmarkApplyEndpointChange(b *testing.B) {
	benchmarkApply(b, func(s *discovery.Snapshot, i int) { setReady(s, 3, i%2 == 1) })
}

// BenchmarkApplyRouteChange: one VirtualService's weights change in the
// same mesh while N proxies are known: every view is built again, of the
// same clusters, endpoints and listeners, and one new route table.
func BenchmarkApplyRouteChange(b *testing.B) {
	benchmarkApply(b, func(s *discovery.Snapshot, i int) {
		vs := *s.VirtualServices[0]
		vs.Spec = proto.Clone(vs.Spec).(*networking.VirtualService)
		vs.Spec.Http[0].Route[0].Weight, vs.Spec.Http[0].Route[1].Weight = int32(10+i%2), int32(90-i%2)
		s.VirtualServices = append([]*discovery.VirtualService{&vs}, s.VirtualServices[1:]...)
	})
}

// benchmarkApply applies change i to the load harness's mesh, with 1,000
// and 2,000 proxies known.
func benchmarkApply(b *testing.B, change func(s *discovery.Snapshot, i int)) {
	base := discoverytest.Synthetic(1000, 10)
	for _, n := range []int{1000, 2000} {
		b.Run(fmt.Sprintf("proxies=%d", n), func(b *testing.B) {
			ts := newTestServer(b, base)
			for i := 0; i < n; i++ {
				ts.register(b, proxyOf(base.Pods[i]).NodeID())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts.apply(variant(base, uint64(i+2), func(s *discovery.Snapshot) { change(s, i) }))
			}
		})
	}
}
