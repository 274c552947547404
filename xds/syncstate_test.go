package xds

import (
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// The tracker's answers, as proxy-status shows them: each step is a
// response sent or a proxy's reply, at a given time.
func TestSyncStateFromTracker(t *testing.T) {
	const node, cds = "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local", resourcev3.ClusterType
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		send          string // version to send ("" = a reply)
		nonce         string
		reply         string // nonce the proxy answers
		errorMessage  string
		at            time.Duration
		want          SyncState
		wantDescribed string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"nothing sent", []step{{at: 0, want: NotSent, wantDescribed: "NOT SENT"}}},
		{"sent then ACKed", []step{
			{send: "v1", nonce: "1", at: 0, want: Stale, wantDescribed: "STALE (0s)"},
			{reply: "1", at: time.Second, want: Synced, wantDescribed: "SYNCED"},
		}},
		{"a change not answered yet is stale, with its age", []step{
			{send: "v1", nonce: "1", at: 0},
			{reply: "1", at: time.Second},
			{send: "v2", nonce: "2", at: 10 * time.Second},
			{at: 42 * time.Second, want: Stale, wantDescribed: "STALE (32s)"},
		}},
		{"NACK shows the error", []step{
			{send: "v1", nonce: "1", at: 0},
			{reply: "1", at: time.Second},
			{send: "v2", nonce: "2", at: 2 * time.Second},
			{reply: "2", errorMessage: "Proto constraint validation failed\ndetails", at: 3 * time.Second,
				want: Nacked, wantDescribed: "NACKED (Proto constraint validation failed)"},
		}},
		{"a reply to an older nonce changes nothing", []step{
			{send: "v1", nonce: "1", at: 0},
			{send: "v2", nonce: "2", at: time.Second},
			{reply: "1", errorMessage: "late", at: 2 * time.Second, want: Stale, wantDescribed: "STALE (1s)"},
		}},
		{"after a NACK, the next version ACKed clears it", []step{
			{send: "v1", nonce: "1", at: 0},
			{reply: "1", errorMessage: "bad", at: time.Second, want: Nacked},
			{send: "v2", nonce: "2", at: 2 * time.Second, want: Stale},
			{reply: "2", at: 3 * time.Second, want: Synced, wantDescribed: "SYNCED"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newStatusTracker()
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				switch {
				case s.send != "":
					tr.sent(node, cds, s.send, s.nonce, now)
				case s.reply != "":
					tr.answered(node, cds, s.reply, s.errorMessage, now)
				}
				if s.want == "" {
					continue
				}
				var got TypeStatus
				if ps := tr.snapshot(); len(ps) == 1 {
					got = ps[0].Types[cds]
				}
				if got.State() != s.want {
					t.Fatalf("step %d: state %s, want %s (%+v)", i, got.State(), s.want, got)
				}
				if s.wantDescribed != "" && got.Describe(now) != s.wantDescribed {
					t.Fatalf("step %d: described %q, want %q", i, got.Describe(now), s.wantDescribed)
				}
			}
		})
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
	tr := newStatusTracker()
	tr.agent("n", tests[0].node)
	tr.sent("n", resourcev3.ClusterType, "v1", "1", time.Time{})
	if got := tr.snapshot()[0].EnvoyVersion; got != "1.40.0" {
		t.Fatalf("snapshot EnvoyVersion = %q", got)
	}
}
