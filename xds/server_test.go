package xds

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// testServer is a Server on an in-memory gRPC connection. Tests call apply
// directly (no debounce) so that every step is synchronous.
type testServer struct {
	*Server
	conn *grpc.ClientConn
}

func newTestServer(t testing.TB, snap *discovery.Snapshot, opts ...func(*Options)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	o := Options{Log: log, Registry: prometheus.NewRegistry(), VersionPrefix: "test", Authenticator: testTokens{}}
	for _, opt := range opts {
		opt(&o)
	}
	s := NewServer(ctx, o)
	s.apply(snap)
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	s.Register(g)
	go func() { _ = g.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); g.Stop(); cancel() })
	return &testServer{Server: s, conn: conn}
}

func proxyOf(pod *discovery.Pod) translate.Proxy {
	return translate.Proxy{Type: translate.Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace}
}

func (ts *testServer) client(t testing.TB, pod *discovery.Pod) *xdstest.Client {
	t.Helper()
	c, err := xdstest.Open(podContext(pod), ts.conn, proxyOf(pod).NodeID())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func recv(t testing.TB, c *xdstest.Client) *discoverypb.DiscoveryResponse {
	t.Helper()
	type result struct {
		r   *discoverypb.DiscoveryResponse
		err error
	}
	ch := make(chan result, 1)
	go func() { r, err := c.Recv(); ch <- result{r, err} }()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatal(res.err)
		}
		return res.r
	case <-time.After(5 * time.Second):
		t.Fatal("no response within 5s")
		return nil
	}
}

// parked counts the open (unanswered) watches of a node: after an ACK the
// server parks one watch per type until the view changes.
func (ts *testServer) parked(nodeID string) int {
	ts.cache.mu.Lock()
	defer ts.cache.mu.Unlock()
	n := ts.cache.nodes[nodeID]
	if n == nil {
		return 0
	}
	return len(n.sotw) + len(n.delta)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClusterResponseThenNoPushForAnUnchangedView(t *testing.T) {
	snap := discoverytest.Synthetic(3, 2)
	ts := newTestServer(t, snap)
	c := ts.client(t, snap.Pods[0])
	if err := c.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	resp := recv(t, c)
	// 3 services × (whole + 2 subsets) outbound, plus the pod's inbound|8080||.
	if got, want := len(resp.Resources), 3*3+1; got != want {
		t.Fatalf("clusters: got %d, want %d", got, want)
	}
	if err := c.Ack(resp); err != nil {
		t.Fatal(err)
	}
	node := proxyOf(snap.Pods[0]).NodeID()
	waitFor(t, "the ACK to park a watch", func() bool { return ts.parked(node) == 1 })

	// Same content, new snapshot version: the view's version is unchanged,
	// so the watch stays parked and nothing is pushed.
	again := discoverytest.Synthetic(3, 2)
	again.Version = 2
	ts.apply(again)
	if ts.parked(node) != 1 {
		t.Fatal("an unchanged view answered the parked watch (a needless push)")
	}
	status := ts.Proxies()[0].Types[resourcev3.ClusterType]
	if status.Acked != resp.VersionInfo || status.Sent != resp.VersionInfo {
		t.Fatalf("status: %+v, want sent and acked %s", status, resp.VersionInfo)
	}
}

func TestNackedVersionIsNotResent(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts := newTestServer(t, snap)
	c := ts.client(t, snap.Pods[0])
	if err := c.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	first := recv(t, c)
	if err := c.Ack(first); err != nil {
		t.Fatal(err)
	}
	// A change the proxy will reject.
	ts.apply(discoverytest.Synthetic(3, 2))
	second := recv(t, c)
	if second.VersionInfo == first.VersionInfo {
		t.Fatal("a changed view kept its version")
	}
	if err := c.Nack(second, first.VersionInfo, "invalid cluster"); err != nil {
		t.Fatal(err)
	}
	node := proxyOf(snap.Pods[0]).NodeID()
	// The NACK asks again with the old version; the server must not answer
	// with the rejected version again, but park until the config changes.
	waitFor(t, "the NACK to park a watch", func() bool { return ts.parked(node) == 1 })
	status := ts.Proxies()[0].Types[resourcev3.ClusterType]
	if status.Nacked != second.VersionInfo || status.Error != "invalid cluster" || status.Acked != first.VersionInfo {
		t.Fatalf("status after NACK: %+v", status)
	}
	// The next change goes out.
	ts.apply(discoverytest.Synthetic(4, 2))
	third := recv(t, c)
	if third.VersionInfo == second.VersionInfo || len(third.Resources) != 4*3+1 {
		t.Fatalf("after a new change: version %s, %d clusters", third.VersionInfo, len(third.Resources))
	}
}

func TestEndpointOnlyChangeKeepsOtherTypes(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts := newTestServer(t, snap)
	node := proxyOf(snap.Pods[0]).NodeID()
	ts.cache.ensureView(node)
	before := ts.cache.Nodes()[node]

	moved := discoverytest.Synthetic(2, 2)
	moved.Version = 2
	for _, eps := range moved.Endpoints {
		eps[1].Ready = false // a pod of every service stops being ready
	}
	ts.apply(moved)
	after := ts.cache.Nodes()[node]
	for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType} {
		if after.Types[typeURL] != before.Types[typeURL] {
			t.Errorf("%s was rebuilt on an endpoint-only change", typeURL)
		}
	}
	if after.Types[resourcev3.EndpointType].Version == before.Types[resourcev3.EndpointType].Version {
		t.Error("endpoints did not change")
	}
}

func TestSharedResourcesAreMarshaledOnce(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts := newTestServer(t, snap)
	a, b := proxyOf(snap.Pods[0]).NodeID(), proxyOf(snap.Pods[1]).NodeID()
	ts.cache.ensureView(a)
	ts.cache.ensureView(b)
	views := ts.cache.Nodes()
	name := translate.OutboundClusterName(80, "v1", snap.Services[1].Hostname)
	ra := views[a].Types[resourcev3.ClusterType].Resources[name]
	rb := views[b].Types[resourcev3.ClusterType].Resources[name]
	if ra == nil || ra != rb {
		t.Fatalf("cluster %s: two proxies hold different copies (%p, %p)", name, ra, rb)
	}
}

// A snapshot applied while a new proxy's first view is being translated
// must reach that proxy: the first view, built from the older mesh, may not
// win. (Seen in Kubernetes mode: a pod created just before its Envoy
// connected left the Envoy with no listeners until the next change.)
func TestSnapshotAppliedDuringFirstViewReachesTheProxy(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts := newTestServer(t, snap)
	build := ts.cache.viewFor
	ts.cache.viewFor = func(nodeID string) (*View, error) {
		v, err := build(nodeID) // from the 2-service mesh
		ts.apply(discoverytest.Synthetic(3, 2))
		return v, err
	}
	node := proxyOf(snap.Pods[0]).NodeID()
	ts.cache.ensureView(node)
	got := len(ts.cache.Nodes()[node].Types[resourcev3.ClusterType].Resources)
	if want := 3*3 + 1; got != want {
		t.Fatalf("proxy holds %d clusters, want %d from the snapshot applied meanwhile", got, want)
	}
}
