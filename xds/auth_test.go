package xds

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// testTokens is the tests' authenticator: the token "NS/POD" proves pod
// NS/POD, "NS/POD/SA" also names its service account, anything else is
// refused.
type testTokens struct{}

func (testTokens) Authenticate(_ context.Context, token string) (authn.Caller, error) {
	parts := strings.Split(token, "/")
	switch len(parts) {
	case 2:
		return authn.Caller{Namespace: parts[0], Pod: parts[1]}, nil
	case 3:
		return authn.Caller{Namespace: parts[0], Pod: parts[1], ServiceAccount: parts[2]}, nil
	}
	return authn.Caller{}, errors.New("bad test token")
}

// podTokens is the test connections' stream interceptor: a stream that
// xdstest opens for a node carries that node's pod's test token, unless it
// has a token of its own or is marked xdstest.WithoutToken.
func podTokens(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if xdstest.TokenWanted(ctx) {
		if p, err := translate.ParseNodeID(xdstest.NodeID(ctx)); err == nil {
			ctx = xdstest.WithToken(ctx, p.Namespace+"/"+p.PodName)
		}
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// podContext carries the token of a pod.
func podContext(pod *discovery.Pod) context.Context {
	return xdstest.WithToken(context.Background(), pod.Namespace+"/"+pod.Name)
}

// openAs opens a stream with a token (none when empty) and sends a first
// request for clusters as node nodeID.
func openAs(t *testing.T, ts *testServer, token, nodeID string) *xdstest.Client {
	t.Helper()
	ctx := xdstest.WithoutToken(context.Background())
	if token != "" {
		ctx = xdstest.WithToken(ctx, token)
	}
	c, err := xdstest.Open(ctx, ts.conn, nodeID)
	if err != nil {
		t.Fatal(err)
	}
	// A stream refused at open fails this send (EOF); its status comes
	// with the next receive.
	_ = c.Subscribe(resourcev3.ClusterType)
	return c
}

// streamRefused waits for the stream to end and returns its gRPC status; a
// response that arrives instead fails the test.
func streamRefused(t *testing.T, c *xdstest.Client) *status.Status {
	t.Helper()
	done := make(chan error, 1)
	var got *discoverypb.DiscoveryResponse
	go func() {
		r, err := c.Recv()
		got = r
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the stream got a response with %d resources instead of being refused", len(got.GetResources()))
		}
		return status.Convert(err)
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was neither answered nor refused in 5s")
		return nil
	}
}

// newAuthTestServer is a test server that, as in production, serves only
// pods of the mesh.
func newAuthTestServer(t *testing.T, snap *discovery.Snapshot) *testServer {
	ts := newTestServer(t, snap)
	ts.auth.podsOutsideMesh = false
	return ts
}

func TestStreamsThatProveNothingGetNothing(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts := newAuthTestServer(t, snap)
	a, b := snap.Pods[0], snap.Pods[1]
	for name, tc := range map[string]struct {
		token, node string
		code        codes.Code
		message     string
	}{
		"no token":                {"", proxyOf(a).NodeID(), codes.Unauthenticated, "no credentials"},
		"malformed token":         {"garbage", proxyOf(a).NodeID(), codes.Unauthenticated, "bad test token"},
		"pod A's token, B's id":   {a.Namespace + "/" + a.Name, proxyOf(b).NodeID(), codes.PermissionDenied, "the token is for pod load/" + a.Name},
		"a pod not in the mesh":   {"load/ghost", "sidecar~10.9.9.9~ghost.load~load.svc.cluster.local", codes.PermissionDenied, "not in the mesh"},
		"another service account": {a.Namespace + "/" + a.Name + "/other", proxyOf(a).NodeID(), codes.PermissionDenied, "service account other"},
		"a malformed node id":     {a.Namespace + "/" + a.Name, "not-a-node-id", codes.InvalidArgument, "node id"},
	} {
		t.Run(name, func(t *testing.T) {
			st := streamRefused(t, openAs(t, ts, tc.token, tc.node))
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.message) {
				t.Errorf("status %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.message)
			}
		})
	}
	if n := len(ts.cache.Nodes()); n != 0 {
		t.Errorf("refused streams left %d nodes in the cache", n)
	}
	if st := ts.Proxies(); len(st) != 0 {
		t.Errorf("refused streams show up in /debug/proxies: %+v", st)
	}
}

func TestNodeIDIsFixedForAStream(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts := newAuthTestServer(t, snap)
	a, b := snap.Pods[0], snap.Pods[1]
	c := openAs(t, ts, a.Namespace+"/"+a.Name, proxyOf(a).NodeID())
	ack(t, c)
	// The same stream now claims B (as a proxy that lied after proving A).
	if err := c.Send(&discoverypb.DiscoveryRequest{Node: &core.Node{Id: proxyOf(b).NodeID()}, TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	st := streamRefused(t, c)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "node id changed") {
		t.Errorf("status %v %q", st.Code(), st.Message())
	}
	if _, ok := ts.cache.Nodes()[proxyOf(b).NodeID()]; ok {
		t.Error("the lying stream registered node B")
	}
}

func TestMatchCaller(t *testing.T) {
	pod := &discovery.Pod{Meta: discovery.Meta{Name: "p", Namespace: "ns"}, UID: "u1", ServiceAccount: "sa"}
	proxy := translate.Proxy{Type: translate.Sidecar, PodName: "p", Namespace: "ns"}
	for name, tc := range map[string]struct {
		c    authn.Caller
		p    *discovery.Pod
		want string
	}{
		"folder token":      {authn.Caller{Namespace: "ns", Pod: "p"}, pod, ""},
		"kubernetes token":  {authn.Caller{Namespace: "ns", Pod: "p", PodUID: "u1", ServiceAccount: "sa"}, pod, ""},
		"an earlier pod":    {authn.Caller{Namespace: "ns", Pod: "p", PodUID: "u0", ServiceAccount: "sa"}, pod, "another pod named"},
		"another namespace": {authn.Caller{Namespace: "other", Pod: "p"}, pod, "the token is for pod other/p"},
		"another account":   {authn.Caller{Namespace: "ns", Pod: "p", ServiceAccount: "admin"}, pod, "service account admin"},
		"a deleted pod":     {authn.Caller{Namespace: "ns", Pod: "p"}, nil, "not in the mesh"},
	} {
		err := matchCaller(tc.c, proxy, tc.p)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
