package xds

import (
	"fmt"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// SyncState is how far a proxy has taken one resource type, in the words of
// `istioctl proxy-status`.
type SyncState string

const (
	// Synced: the proxy ACKed the last version sent.
	Synced SyncState = "SYNCED"
	// NotSent: nothing of this type was sent (a sidecar without SDS).
	NotSent SyncState = "NOT SENT"
	// Stale: a version was sent and the proxy has not answered it yet.
	Stale SyncState = "STALE"
	// Nacked: the proxy rejected the last version sent; it keeps its last
	// good config.
	Nacked SyncState = "NACKED"
)

// State classifies a type's status.
func (s TypeStatus) State() SyncState {
	switch {
	case s.Sent == "":
		return NotSent
	case s.Nacked == s.Sent:
		return Nacked
	case s.Acked == s.Sent:
		return Synced
	}
	return Stale
}

// Describe is the state as proxy-status prints it: STALE with how long the
// proxy has held the answer back (since the response went out: its last
// change), NACKED with Envoy's error.
func (s TypeStatus) Describe(now time.Time) string {
	switch st := s.State(); st {
	case Stale:
		if s.LastChange.IsZero() {
			return string(st)
		}
		return fmt.Sprintf("%s (%s)", st, now.Sub(s.LastChange).Round(time.Second))
	case Nacked:
		return fmt.Sprintf("%s (%s)", st, firstLine(s.Error))
	default:
		return string(st)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// envoyVersion is the Envoy version a node reports: Istio's proxies say it
// in metadata ISTIO_VERSION, upstream Envoy in user_agent_build_version.
func envoyVersion(node *core.Node) string {
	if v := node.GetMetadata().GetFields()["ISTIO_VERSION"].GetStringValue(); v != "" {
		return v
	}
	if v := node.GetUserAgentBuildVersion().GetVersion(); v != nil {
		return fmt.Sprintf("%d.%d.%d", v.GetMajorNumber(), v.GetMinorNumber(), v.GetPatch())
	}
	return node.GetUserAgentVersion()
}
