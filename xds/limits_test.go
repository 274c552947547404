package xds

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// xDS hygiene (issue 12): every limit refuses the stream with a status
// that says why, and is counted.

// refused sends one request on a new stream and returns the status that
// ended it (failing the test if a response came instead).
func refused(t *testing.T, conn grpc.ClientConnInterface, req *discoverypb.DiscoveryRequest) *status.Status {
	t.Helper()
	stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	// A stream the server refuses at open may already be over when we
	// send: gRPC then says io.EOF, and the status is Recv's to tell.
	if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err == nil {
		t.Fatalf("got a response (%s), want the stream refused", resp.GetTypeUrl())
	}
	return status.Convert(err)
}

func (ts *testServer) limitHits(t testing.TB, limit string) float64 {
	return metricValue(t, ts.metrics.limitHits.WithLabelValues(limit))
}

func TestANodeOverTheLimitsIsRefused(t *testing.T) {
	big, err := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 70<<10)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		node  *core.Node
		limit string // "" when it is no limit but a bad request
		want  string
	}{
		{"node id too long", &core.Node{Id: "sidecar~10.0.0.1~" + strings.Repeat("p", 2000) + ".ns~ns.svc.cluster.local"}, limitNodeID, "node id of 2041 bytes (limit 1024)"},
		{"metadata too large", &core.Node{Id: sleepNode, Metadata: big}, limitNodeMetadata, "node metadata of"},
		{"no node", nil, "", "must name its node"},
		{"a node id pilotlight cannot read", &core.Node{Id: "just-a-name"}, "", "want type~ip~pod.namespace~domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
			st := refused(t, ts.conn, &discoverypb.DiscoveryRequest{Node: tc.node, TypeUrl: resourcev3.ClusterType})
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
				t.Errorf("stream ended with %v, want InvalidArgument with %q", st, tc.want)
			}
			if tc.limit != "" {
				if n := ts.limitHits(t, tc.limit); n != 1 {
					t.Errorf("pilotlight_xds_limit_hits_total{limit=%q} = %v, want 1", tc.limit, n)
				}
			}
			waitFor(t, "the stream to be forgotten", func() bool { return ts.streamCount() == 0 })
		})
	}
}

// Bytes that are no DiscoveryRequest end the stream with gRPC's error for
// them, at once, and the server goes on serving. A lone resource_names tag
// (0x1a, its length missing) once kept the codec reading the same byte
// forever, a core spinning per such stream.
func TestARequestThatIsNotProtobufEndsTheStream(t *testing.T) {
	ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
	for _, raw := range [][]byte{{0x1a}, {0x1a, 0x05, 'a'}, {0x0a, 0xff}, {0xff}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stream, err := ts.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
			"/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources", grpc.ForceCodecV2(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.SendMsg(&raw); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		err = stream.RecvMsg(new([]byte))
		cancel()
		if st := status.Convert(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "unmarshal") {
			t.Errorf("request %x: the stream ended with %v, want gRPC's Internal error unmarshalling it", raw, err)
		}
	}
	c := ts.clientFor(t, sleepNode)
	if err := c.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	accept(t, c, recv(t, c))
}

// rawCodec sends and receives messages as the bytes they are.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// One stream cycling through node ids (issue 12 measured 5,000 of them,
// each left behind in /debug/proxies): the second id ends the stream.
func TestTheNodeIDIsFixedForTheLifeOfAStream(t *testing.T) {
	ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
	c := ts.clientFor(t, sleepNode)
	if err := c.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	accept(t, c, recv(t, c))
	c.NodeID = gatewayNode
	if err := c.Subscribe(resourcev3.ListenerType); err != nil {
		t.Fatal(err)
	}
	_, err := c.Recv()
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "node id changed") {
		t.Fatalf("after a request with another node id: %v, want InvalidArgument, node id changed", err)
	}
	if n := ts.limitHits(t, limitNodeIDChanged); n != 1 {
		t.Errorf("node_id_changed hits = %v, want 1", n)
	}
	waitFor(t, "the stream to be forgotten", func() bool { return ts.streamCount() == 0 })
	if p := ts.Proxies(); len(p) != 0 {
		t.Errorf("/debug/proxies after the stream ended: %+v", p)
	}
}

func TestATypeThatIsNotServedEndsTheStream(t *testing.T) {
	ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
	st := refused(t, ts.conn, &discoverypb.DiscoveryRequest{Node: &core.Node{Id: sleepNode}, TypeUrl: "type.googleapis.com/envoy.service.runtime.v3.Runtime"})
	if st.Code() != codes.InvalidArgument || ts.limitHits(t, limitTypeURL) != 1 {
		t.Errorf("stream ended with %v, type_url hits %v; want InvalidArgument and 1", st, ts.limitHits(t, limitTypeURL))
	}
}

func TestStreamLimits(t *testing.T) {
	t.Run("in all", func(t *testing.T) {
		ts := newTestServerWith(t, testMesh{subset: "v1"}.snapshot(t), Limits{MaxStreams: 2})
		a, b := openAcked(t, ts.conn, sleepNode), openAcked(t, ts.conn, gatewayNode)
		st := refused(t, ts.conn, &discoverypb.DiscoveryRequest{Node: &core.Node{Id: sleepNode}, TypeUrl: resourcev3.ClusterType})
		if st.Code() != codes.ResourceExhausted || ts.limitHits(t, limitStreams) != 1 {
			t.Errorf("third stream: %v, streams hits %v; want ResourceExhausted and 1", st, ts.limitHits(t, limitStreams))
		}
		// A stream that ends makes room.
		b.Close()
		waitFor(t, "the stream to end", func() bool { return ts.streamCount() == 1 })
		openAcked(t, ts.conn, gatewayNode)
		_ = a
	})
	t.Run("per connection", func(t *testing.T) {
		ts := newTestServerWith(t, testMesh{subset: "v1"}.snapshot(t), Limits{MaxStreamsPerConnection: 2})
		addr := ts.serveTCP(t)
		one, two := dialTCP(t, addr), dialTCP(t, addr)
		openAcked(t, one, sleepNode)
		openAcked(t, one, gatewayNode)
		st := refused(t, one, &discoverypb.DiscoveryRequest{Node: &core.Node{Id: sleepNode}, TypeUrl: resourcev3.ClusterType})
		if st.Code() != codes.ResourceExhausted || ts.limitHits(t, limitStreamsPerConnection) != 1 {
			t.Errorf("third stream on a connection: %v, hits %v; want ResourceExhausted and 1", st, ts.limitHits(t, limitStreamsPerConnection))
		}
		openAcked(t, two, sleepNode) // another connection has its own
	})
}

// openAcked opens a stream, takes its clusters and ACKs them.
func openAcked(t *testing.T, conn grpc.ClientConnInterface, nodeID string) *xdstest.Client {
	t.Helper()
	c, err := xdstest.Open(context.Background(), conn, nodeID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	accept(t, c, recv(t, c))
	return c
}

// The same proxy on two streams (an Envoy that restarts while its old
// process drains): each stream keeps its own ACK and NACK state, and the
// end of one does not touch the other.
func TestASecondStreamOfAProxyKeepsItsOwnState(t *testing.T) {
	ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
	a, b := ts.clientFor(t, sleepNode), ts.clientFor(t, sleepNode)
	for _, c := range []*xdstest.Client{a, b} {
		if err := c.Subscribe(resourcev3.ClusterType); err != nil {
			t.Fatal(err)
		}
	}
	ra, rb := recv(t, a), recv(t, b)
	accept(t, a, ra)
	if err := b.Nack(rb, "", "b rejects"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both answers", func() bool { return ts.parked(sleepNode) == 2 })
	ps := ts.Proxies()
	if len(ps) != 2 {
		t.Fatalf("/debug/proxies: %d entries, want one per stream", len(ps))
	}
	var acked, nacked int
	for _, p := range ps {
		s := p.Types[resourcev3.ClusterType]
		switch {
		case s.Acked == ra.GetVersionInfo() && s.Nacked == "":
			acked++
		case s.Acked == "" && s.Nacked == rb.GetVersionInfo() && s.Error == "b rejects":
			nacked++
		}
	}
	if acked != 1 || nacked != 1 {
		t.Fatalf("want one stream that acked and one that nacked: %+v", ps)
	}
	// A change reaches both; then b goes, and a still gets the next one.
	ts.apply(testMesh{subset: "v2"}.snapshot(t))
	accept(t, a, recv(t, a))
	recv(t, b)
	b.Close()
	waitFor(t, "b to be forgotten", func() bool { return len(ts.Proxies()) == 1 })
	ts.apply(testMesh{subset: "v1"}.snapshot(t))
	if r := recv(t, a); r.GetTypeUrl() != resourcev3.ClusterType {
		t.Fatalf("a got %s after b left", r.GetTypeUrl())
	}
}

// A client that stops reading: the send blocks once its HTTP/2 window is
// full, and the send timeout ends the stream instead of holding it (and
// the response it pins) for as long as the client likes.
func TestAClientThatDoesNotReadIsCutOff(t *testing.T) {
	ts := newTestServerWith(t, discoverytest.Synthetic(500, 4), Limits{SendTimeout: 200 * time.Millisecond})
	// A fixed 64 KiB window: no automatic growth while nothing is read.
	conn := ts.dial(t, grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	c, err := xdstest.Open(context.Background(), conn, benchNodeID(discoverytest.Synthetic(1, 1), 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
		if err := c.Subscribe(typeURL); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the send timeout", func() bool { return ts.limitHits(t, limitSendTimeout) >= 1 })
	waitFor(t, "the stream to end", func() bool { return ts.streamCount() == 0 })
}

// Streams that come and go leave nothing behind: not in /debug/proxies,
// not in the cache's maps.
func TestStreamStateIsFreedWhenStreamsEnd(t *testing.T) {
	ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
	snap := discoverytest.Synthetic(1, 1)
	for i := 0; i < 300; i++ {
		c := openAcked(t, ts.conn, benchNodeID(snap, 10+i))
		c.Close()
	}
	waitFor(t, "every stream to end", func() bool { return ts.streamCount() == 0 })
	ts.cache.mu.Lock()
	left := len(ts.cache.nodes) + len(ts.cache.byNode) + len(ts.cache.perConn)
	ts.cache.mu.Unlock()
	if left != 0 || len(ts.Proxies()) != 0 {
		t.Errorf("after every stream ended: %d entries in the cache, %d in /debug/proxies", left, len(ts.Proxies()))
	}
}

func (ts *testServer) streamCount() int {
	ts.cache.mu.Lock()
	defer ts.cache.mu.Unlock()
	return len(ts.cache.streams)
}

// serveTCP serves the test server on a loopback TCP port too, where every
// connection is its own peer.
func (ts *testServer) serveTCP(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(ts.ServerOptions()...)
	ts.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func dialTCP(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStreamInterceptor(podTokens))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// The transport tells every client the per-connection limit (HTTP/2
// SETTINGS_MAX_CONCURRENT_STREAMS, with the one extra stream that is
// refused with a reason), and refuses streams beyond it itself.
func TestServerOptionsAdvertiseTheStreamLimit(t *testing.T) {
	ts := newTestServerWith(t, testMesh{subset: "v1"}.snapshot(t), Limits{MaxStreamsPerConnection: 7})
	fr := rawHTTP2(t, ts)
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	settings, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame from the server: %T, want SETTINGS", f)
	}
	if v, ok := settings.Value(http2.SettingMaxConcurrentStreams); !ok || v != 8 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (set: %v), want 8", v, ok)
	}
}

// The server probes no bandwidth: a DATA frame from a proxy (its ACKs)
// gets no PING back. The client's own PING, sent after the DATA frame, is
// answered after anything the DATA frame made the server send, so the
// answer ends the wait.
func TestServerSendsNoPingWhenARequestArrives(t *testing.T) {
	fr := rawHTTP2(t, newTestServer(t, testMesh{subset: "v1"}.snapshot(t)))
	probe := [8]byte{'p', 'r', 'o', 'b', 'e'}
	if err := fr.WriteData(1, false, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := fr.WritePing(false, probe); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("before the answer to the client's PING: %v", err)
		}
		if ping, ok := f.(*http2.PingFrame); ok {
			switch {
			case !ping.IsAck():
				t.Fatalf("the server sent a PING of its own (% x) after a DATA frame: gRPC's bandwidth probe is on", ping.Data)
			case ping.Data == probe:
				return
			}
		}
	}
}

// rawHTTP2 is an HTTP/2 connection to the test server, frame by frame:
// the client preface and SETTINGS sent, closed when the test ends.
func rawHTTP2(t *testing.T, ts *testServer) *http2.Framer {
	t.Helper()
	conn, err := net.Dial("tcp", ts.serveTCP(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr
}
