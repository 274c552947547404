package xds

import (
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

func TestSyncStateOfTypeStatus(t *testing.T) {
	sent := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	now := sent.Add(42 * time.Second)
	tests := []struct {
		name string
		s    TypeStatus
		want SyncState
		text string
	}{
		{"nothing sent", TypeStatus{}, NotSent, "NOT SENT"},
		{"acked", TypeStatus{Sent: "v1", Acked: "v1", LastChange: sent}, Synced, "SYNCED"},
		{"not answered yet, with its age", TypeStatus{Sent: "v2", Acked: "v1", LastChange: sent}, Stale, "STALE (42s)"},
		{"nacked, with Envoy's first line", TypeStatus{Sent: "v2", Acked: "v1", Nacked: "v2", Error: "Proto constraint validation failed\ndetails"},
			Nacked, "NACKED (Proto constraint validation failed)"},
		{"a newer version after a NACK, not answered", TypeStatus{Sent: "v3", Acked: "v1", Nacked: "v2", LastChange: sent}, Stale, "STALE (42s)"},
	}
	for _, tt := range tests {
		if got := tt.s.State(); got != tt.want {
			t.Errorf("%s: state %s, want %s", tt.name, got, tt.want)
		}
		if got := tt.s.Describe(now); got != tt.text {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.text)
		}
	}
}

// The tracker as proxy-status reads it (Server.Proxies): a response not
// answered yet is STALE, its ACK makes it SYNCED, a NACK shows NACKED with
// the proxy's error, and the node's Envoy version is reported.
func TestProxyStatusFromTheTracker(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts := newTestServer(t, snap)
	c := ts.client(t, snap.Pods[0])
	if err := c.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	state := func() TypeStatus {
		ps := ts.Proxies()
		if len(ps) != 1 {
			t.Fatalf("%d proxies", len(ps))
		}
		return ps[0].Types[resourcev3.ClusterType]
	}
	first := recv(t, c)
	waitFor(t, "the response to be recorded as sent", func() bool { return state().Sent == first.VersionInfo })
	if s := state(); s.State() != Stale {
		t.Fatalf("before the ACK: %s (%+v)", s.State(), s)
	}
	if err := c.Ack(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ACK", func() bool { return state().State() == Synced })

	ts.apply(discoverytest.Synthetic(3, 2))
	second := recv(t, c)
	if err := c.Nack(second, first.VersionInfo, "cluster outbound|80||x: invalid\nmore"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the NACK", func() bool { return state().State() == Nacked })
	if got := state().Describe(time.Now()); got != "NACKED (cluster outbound|80||x: invalid)" {
		t.Errorf("NACKED described as %q", got)
	}
	if ps := ts.Proxies()[0]; ps.ControlPlane == "" {
		t.Error("no control plane instance")
	}
}

func TestEnvoyVersionOfNode(t *testing.T) {
	meta, _ := structpb.NewStruct(map[string]any{"ISTIO_VERSION": "1.24.0"})
	tests := []struct {
		node *core.Node
		want string
	}{
		{&core.Node{UserAgentName: "envoy", UserAgentVersionType: &core.Node_UserAgentBuildVersion{
			UserAgentBuildVersion: &core.BuildVersion{Version: &typev3.SemanticVersion{MajorNumber: 1, MinorNumber: 40}}}}, "1.40.0"},
		{&core.Node{Metadata: meta}, "1.24.0"},
		{&core.Node{UserAgentVersionType: &core.Node_UserAgentVersion{UserAgentVersion: "custom-7"}}, "custom-7"},
		{&core.Node{}, ""},
	}
	for _, tt := range tests {
		if got := envoyVersion(tt.node); got != tt.want {
			t.Errorf("envoyVersion(%v) = %q, want %q", tt.node, got, tt.want)
		}
	}
}
