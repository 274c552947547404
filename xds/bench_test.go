package xds

import (
	"fmt"
	"testing"

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
// then a VirtualService's weights change (every view again). The route
// change should marshal and check again only what it changed. Mesh: 100
// services × 4 pods, a sidecar on every pod.
func BenchmarkRouteChangeAfterEndpointChange(b *testing.B) {
	base := discoverytest.Synthetic(100, 4)
	ts := newTestServer(b, base)
	for _, pod := range base.Pods {
		ts.register(b, proxyOf(pod).NodeID())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		flipped := discoverytest.Synthetic(100, 4)
		flipped.Version = uint64(2 * i)
		flipped.Endpoints[flipped.Services[0].Key()][1].Ready = false
		ts.apply(flipped)
		weights := discoverytest.Synthetic(100, 4)
		weights.Version = uint64(2*i + 1)
		weights.VirtualServices[0].Spec.Http[0].Route[0].Weight = int32(10 + i%2)
		weights.VirtualServices[0].Spec.Http[0].Route[1].Weight = int32(90 - i%2)
		ts.apply(weights)
	}
}
