package xds

import (
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/translate"
)

// capturedNode is the Envoy node of a sidecar in iptables mode.
func capturedNode(t *testing.T, pod *discovery.Pod) *core.Node {
	t.Helper()
	md, err := structpb.NewStruct(map[string]any{translate.MetadataInterceptionMode: string(translate.InterceptRedirect)})
	if err != nil {
		t.Fatal(err)
	}
	return &core.Node{Id: proxyOf(pod).NodeID(), Metadata: md}
}

// connectBoth builds the views of the snapshot's first pod as a captured
// sidecar and its second as a local-mode one, as their first requests do.
func connectBoth(t *testing.T, ts *testServer, snap *discovery.Snapshot) (captured *core.Node, local string) {
	t.Helper()
	captured, local = capturedNode(t, snap.Pods[0]), proxyOf(snap.Pods[1]).NodeID()
	for i, node := range []*core.Node{captured, {Id: local}} {
		id := int64(1000 + i)
		if err := ts.cache.openStream(id, "", false); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.cache.bind(id, node); err != nil {
			t.Fatal(err)
		}
	}
	return captured, local
}

// TestInterceptionModeFromNodeMetadata: the node metadata a proxy sends
// decides its listeners; the same pod without it gets local mode's.
func TestInterceptionModeFromNodeMetadata(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts := newTestServer(t, snap)
	captured, local := connectBoth(t, ts, snap)
	views := ts.cache.Nodes()
	if _, ok := views[captured.Id].Types[resourcev3.ListenerType].Resources[translate.VirtualOutboundListenerName]; !ok {
		t.Errorf("captured proxy has no %s listener", translate.VirtualOutboundListenerName)
	}
	if _, ok := views[local].Types[resourcev3.ListenerType].Resources[translate.VirtualOutboundListenerName]; ok {
		t.Errorf("local-mode proxy got %s", translate.VirtualOutboundListenerName)
	}
}

// TestHeadlessEndpointsRebuildCapturedListeners: a captured sidecar
// matches a headless TCP service by its endpoints' addresses, so an
// endpoint-only change rebuilds its listeners; a local-mode sidecar keeps
// them.
func TestHeadlessEndpointsRebuildCapturedListeners(t *testing.T) {
	withRedis := func(version uint64, addrs ...string) *discovery.Snapshot {
		s := discoverytest.Synthetic(1, 2)
		s.Version = version
		redis := &discovery.Service{
			Meta:     discovery.Meta{Kind: "Service", Name: "redis", Namespace: "load"},
			Hostname: discovery.Hostname("redis", "load", discovery.DefaultDomainSuffix),
			Ports:    []discovery.ServicePort{{Name: "tcp-redis", Port: 6379, Protocol: "TCP"}},
		}
		s.Services = append(s.Services, redis)
		for _, a := range addrs {
			s.Endpoints[redis.Key()] = append(s.Endpoints[redis.Key()], &discovery.Endpoint{Address: a, Ports: map[string]uint32{"tcp-redis": 6379}, Ready: true})
		}
		return s.Seal()
	}
	first := withRedis(1, "10.244.9.1")
	ts := newTestServer(t, first)
	captured, local := connectBoth(t, ts, first)
	before := ts.cache.Nodes()

	second := withRedis(2, "10.244.9.1", "10.244.9.2")
	if !discovery.SameConfig(first, second) {
		t.Fatal("test setup: the change should be endpoints only")
	}
	ts.apply(second)
	after := ts.cache.Nodes()
	if after[captured.Id].Types[resourcev3.ListenerType].Version == before[captured.Id].Types[resourcev3.ListenerType].Version {
		t.Error("captured proxy: listeners not rebuilt when a headless service's endpoints changed")
	}
	if after[local].Types[resourcev3.ListenerType] != before[local].Types[resourcev3.ListenerType] {
		t.Error("local-mode proxy: listeners rebuilt on an endpoint-only change")
	}
}
