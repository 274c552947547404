package xds

import (
	"testing"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// The clusters every sidecar shares are marshaled once: the second proxy's
// response carries the type view's bytes (no Anys of its own), and on the
// wire it is the same response as the first proxy's.
func TestSharedResourcesAreSentAsOneCopy(t *testing.T) {
	snap := discoverytest.Synthetic(40, 2) // endpoints over minShared
	ts := newTestServer(t, snap)
	var got [2]*discoverypb.DiscoveryResponse
	for i, pod := range snap.Pods[:2] {
		c := ts.client(t, pod)
		if err := c.Subscribe(resourcev3.EndpointType); err != nil {
			t.Fatal(err)
		}
		got[i] = recv(t, c)
	}
	if len(got[0].GetResources()) != 40*3 || !proto.Equal(got[0], withNonce(got[1], got[0].GetNonce())) {
		t.Fatalf("the two proxies got different endpoints: %d and %d resources", len(got[0].GetResources()), len(got[1].GetResources()))
	}
	tv := ts.cache.Nodes()[proxyOf(snap.Pods[1]).NodeID()].typeView(resourcev3.EndpointType)
	if !tv.shared() {
		t.Fatal("two proxies hold the endpoints' type view, but it is not shared")
	}
	// What the server handed gRPC for the second proxy: the view's bytes.
	resp := &discoverypb.DiscoveryResponse{VersionInfo: tv.Version, TypeUrl: resourcev3.EndpointType}
	withEncoded(resp, tv.all().encoded())
	out, ok := marshalShared(resp)
	if !ok || len(out) != 2 || &out[1].ReadOnlyData()[0] != &tv.all().encoded()[0] {
		t.Fatal("a response of shared resources was not marshaled around the view's own bytes")
	}
	wire := &discoverypb.DiscoveryResponse{}
	if err := proto.Unmarshal(out.Materialize(), wire); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(wire, withNonce(got[0], "")) {
		t.Error("the pre-encoded response does not decode to the response")
	}
}

func withNonce(r *discoverypb.DiscoveryResponse, nonce string) *discoverypb.DiscoveryResponse {
	c := proto.Clone(r).(*discoverypb.DiscoveryResponse)
	c.Nonce = nonce
	return c
}
