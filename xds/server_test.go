package xds

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
	lis  *bufconn.Listener
}

func newTestServer(t testing.TB, snap *discovery.Snapshot, opts ...func(*Options)) *testServer {
	t.Helper()
	return newTestServerWith(t, snap, Limits{}, opts...)
}

// newTestServerWith is newTestServer with these limits (zero: defaults).
func newTestServerWith(t testing.TB, snap *discovery.Snapshot, limits Limits, opts ...func(*Options)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	o := Options{Log: log, Registry: prometheus.NewRegistry(), VersionPrefix: "test", Limits: limits, Authenticator: testTokens{}}
	for _, opt := range opts {
		opt(&o)
	}
	s := NewServer(ctx, o)
	// Streams of made-up nodes are served as the tests expect; auth_test
	// turns the pod check back on (newAuthTestServer).
	s.auth.podsOutsideMesh = true
	s.apply(snap)
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer(s.ServerOptions()...)
	s.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(func() { g.Stop(); cancel() })
	ts := &testServer{Server: s, lis: lis}
	ts.conn = ts.dial(t)
	return ts
}

// dial opens another connection to the server.
func (ts *testServer) dial(t testing.TB, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append(opts,
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return ts.lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStreamInterceptor(podTokens))
	conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
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

// clientFor opens a state-of-the-world stream for any node id.
func (ts *testServer) clientFor(t testing.TB, nodeID string) *xdstest.Client {
	t.Helper()
	c, err := xdstest.Open(context.Background(), ts.conn, nodeID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accept ACKs a response, asking for names (the names of EDS and RDS).
func accept(t testing.TB, c *xdstest.Client, resp *discoverypb.DiscoveryResponse, names ...string) {
	t.Helper()
	if err := c.Ack(resp, names...); err != nil {
		t.Fatal(err)
	}
}

func resourceNames(resp *discoverypb.DiscoveryResponse) []string {
	var out []string
	for _, a := range resp.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			continue
		}
		out = append(out, resourceName(m))
	}
	return out
}

func hasResource(resp *discoverypb.DiscoveryResponse, name string) bool {
	return slices.Contains(resourceNames(resp), name)
}

// metricValue reads a counter or gauge.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func timeout() <-chan time.Time { return time.After(5 * time.Second) }

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
	e := ts.cache.nodes[nodeID]
	if e == nil {
		return 0
	}
	n := 0
	for st := range e.streams {
		for _, t := range st.types {
			if t.watch != nil {
				n++
			}
		}
	}
	return n
}

// register makes the cache know a proxy as if it had opened a stream, and
// builds its first view.
func (ts *testServer) register(t testing.TB, nodeID string) *View {
	t.Helper()
	ts.cache.mu.Lock()
	if ts.cache.nodes[nodeID] == nil {
		ts.cache.nodes[nodeID] = &nodeEntry{streams: map[*stream]struct{}{}}
	}
	ts.cache.mu.Unlock()
	ts.cache.ensureView(nodeID)
	v := ts.cache.Nodes()[nodeID]
	if v == nil {
		t.Fatalf("no view for %s", nodeID)
	}
	return v
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
	before := ts.register(t, node)

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
	ts.register(t, a)
	ts.register(t, b)
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
	got := len(ts.register(t, node).Types[resourcev3.ClusterType].Resources)
	if want := 3*3 + 1; got != want {
		t.Fatalf("proxy holds %d clusters, want %d from the snapshot applied meanwhile", got, want)
	}
}

// The pod whose readiness changes takes the endpoint fast path too: its own
// listeners and clusters do not depend on its readiness. Every proxy gets
// the same new endpoints (one type view), in which only the changed
// service's load assignments are new (its v1 subset's with the same
// content, so not sent again): the others are the very resources the
// previous snapshot marshaled.
func TestEndpointChangeOfAProxysOwnPod(t *testing.T) {
	snap := discoverytest.Synthetic(3, 2)
	ts := newTestServer(t, snap)
	own, other := proxyOf(snap.Pods[1]), proxyOf(snap.Pods[4])
	before := map[string]*View{own.NodeID(): ts.register(t, own.NodeID()), other.NodeID(): ts.register(t, other.NodeID())}

	flipped := discoverytest.Synthetic(3, 2)
	flipped.Version = 2
	flipped.Pods[1].Ready = false // svc-000-1, and its endpoint
	flipped.Endpoints[flipped.Services[0].Key()][1].Ready = false
	ts.apply(flipped)
	after := ts.cache.Nodes()
	for id, b := range before {
		for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType} {
			if after[id].Types[typeURL] != b.Types[typeURL] {
				t.Errorf("%s: %s was rebuilt: the proxy did not take the endpoint fast path", id, typeURL)
			}
		}
	}
	eds := after[own.NodeID()].typeView(resourcev3.EndpointType)
	if eds != after[other.NodeID()].typeView(resourcev3.EndpointType) {
		t.Error("two proxies that see the same endpoints hold two endpoint views")
	}
	old := before[own.NodeID()].typeView(resourcev3.EndpointType)
	for _, r := range eds.sortedResources() {
		_, subset, host, _ := translate.ParseOutboundClusterName(r.Name)
		rebuilt := host == snap.Services[0].Hostname
		if reused := old.Resources[r.Name] == r; reused != (!rebuilt || subset == "v1") {
			t.Errorf("%s: reused %v, want it reused unless its endpoints changed", r.Name, reused)
		}
		if same := old.Resources[r.Name].Version == r.Version; same != (!rebuilt || subset == "v1") {
			t.Errorf("%s: version unchanged %v", r.Name, same)
		}
	}
}

// A route change translates every proxy again, and translate makes every
// message anew: the clusters and load assignments it did not change have
// the bytes the proxies hold, and keep their Resources (not checked
// again, the same pointers in every view), while the route table is new.
// Proxies with the same lists share one view of each type.
func TestRouteChangeKeepsTheResourcesItDidNotChange(t *testing.T) {
	for _, endpointChangesBefore := range []int{0, 2} {
		t.Run(fmt.Sprintf("after %d endpoint changes", endpointChangesBefore), func(t *testing.T) {
			testRouteChangeKeepsTheResourcesItDidNotChange(t, endpointChangesBefore)
		})
	}
}

// Endpoint changes between (they resolve only load assignments) must not
// make the route change marshal and check the rest again.
func testRouteChangeKeepsTheResourcesItDidNotChange(t *testing.T, endpointChangesBefore int) {
	snap := discoverytest.SyntheticWithClients(3, 2, 2)
	ts := newTestServer(t, snap)
	a, b := proxyOf(snap.Pods[0]).NodeID(), proxyOf(snap.Pods[1]).NodeID()
	before := ts.register(t, a)
	ts.register(t, b)
	for i := range endpointChangesBefore {
		flipped := discoverytest.SyntheticWithClients(3, 2, 2)
		flipped.Version = uint64(2 + i)
		flipped.Endpoints[flipped.Services[0].Key()][1].Ready = i%2 == 1
		ts.apply(flipped)
	}
	if endpointChangesBefore > 0 {
		before = ts.cache.Nodes()[a]
	}

	weights := discoverytest.SyntheticWithClients(3, 2, 2)
	weights.Version = 10
	weights.Endpoints[weights.Services[0].Key()][1].Ready = endpointChangesBefore%2 == 0
	weights.VirtualServices[0].Spec.Http[0].Route[0].Weight = 50
	weights.VirtualServices[0].Spec.Http[0].Route[1].Weight = 50
	ts.apply(weights)
	after := ts.cache.Nodes()
	for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType} {
		old, now := before.typeView(typeURL), after[a].typeView(typeURL)
		if len(now.sorted) == 0 || len(now.sorted) != len(old.sorted) {
			t.Fatalf("%s: %d resources, then %d", typeURL, len(old.sorted), len(now.sorted))
		}
		for i, r := range now.sorted {
			if r != old.sorted[i] && (r.Version == old.sorted[i].Version || typeURL != resourcev3.ListenerType) {
				t.Errorf("%s %s: a new Resource for the same bytes", typeURL, r.Name)
			}
		}
	}
	for _, typeURL := range viewTypes {
		if after[a].typeView(typeURL) != after[b].typeView(typeURL) && typeURL != resourcev3.SecretType {
			t.Errorf("%s: two client proxies with the same resources hold two views", typeURL)
		}
	}
	if after[a].typeView(resourcev3.RouteType).Version == before.typeView(resourcev3.RouteType).Version {
		t.Error("the route table did not change with the VirtualService's weights")
	}
}
