package xds

import (
	"sort"
	"sync"
	"time"
)

// statusTracker records, per proxy and type, what was sent and what the
// proxy said about it: the ACK/NACK state shown at /debug/proxies.
type statusTracker struct {
	mu      sync.Mutex
	proxies map[string]map[string]*TypeStatus // node id → type URL → status
	agents  map[string]string                 // node id → Envoy version (syncstate.go)
}

// TypeStatus is the sync state of one resource type on one proxy.
type TypeStatus struct {
	Sent       string    `json:"sent"`
	SentNonce  string    `json:"-"`
	Acked      string    `json:"acked"`
	Nacked     string    `json:"nacked,omitempty"`
	Error      string    `json:"error,omitempty"`
	LastChange time.Time `json:"lastChange"`
	// SentAt and AckedAt date the last response and its ACK: proxy-status
	// shows how long a proxy has been STALE.
	SentAt  time.Time `json:"sentAt,omitzero"`
	AckedAt time.Time `json:"ackedAt,omitzero"`
}

func newStatusTracker() *statusTracker {
	return &statusTracker{proxies: map[string]map[string]*TypeStatus{}, agents: map[string]string{}}
}

func (t *statusTracker) entry(node, typeURL string) *TypeStatus {
	types := t.proxies[node]
	if types == nil {
		types = map[string]*TypeStatus{}
		t.proxies[node] = types
	}
	s := types[typeURL]
	if s == nil {
		s = &TypeStatus{}
		types[typeURL] = s
	}
	return s
}

func (t *statusTracker) sent(node, typeURL, version, nonce string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.entry(node, typeURL)
	s.Sent, s.SentNonce, s.LastChange, s.SentAt = version, nonce, now, now
}

// answered records the proxy's reply to the response with this nonce. It
// returns true for a NACK. A reply to an older response is ignored.
func (t *statusTracker) answered(node, typeURL, nonce, errorMessage string, now time.Time) (nack bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.entry(node, typeURL)
	if nonce == "" || nonce != s.SentNonce {
		return false
	}
	s.LastChange = now
	if errorMessage != "" {
		s.Nacked, s.Error = s.Sent, errorMessage
		return true
	}
	s.Acked, s.Nacked, s.Error, s.AckedAt = s.Sent, "", "", now
	return false
}

// rejected tells whether the proxy NACKed exactly this version of the type.
func (t *statusTracker) rejected(node, typeURL, version string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.proxies[node][typeURL]
	return s != nil && s.Nacked == version
}

func (t *statusTracker) forget(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.proxies, node)
	delete(t.agents, node)
}

// ProxyStatus is one proxy's entry in /debug/proxies.
type ProxyStatus struct {
	ID    string                `json:"id"`
	Pod   string                `json:"pod"`
	Types map[string]TypeStatus `json:"types"`
	// EnvoyVersion is what the proxy's node says it runs (syncstate.go);
	// ControlPlane the instance of pilotlight that serves it.
	EnvoyVersion string `json:"envoyVersion,omitempty"`
	ControlPlane string `json:"controlPlane,omitempty"`
}

func (t *statusTracker) snapshot() []ProxyStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ProxyStatus, 0, len(t.proxies))
	for node, types := range t.proxies {
		ps := ProxyStatus{ID: node, Types: map[string]TypeStatus{}, EnvoyVersion: t.agents[node]}
		for typeURL, s := range types {
			ps.Types[typeURL] = *s
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
