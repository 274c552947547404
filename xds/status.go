package xds

import (
	"sort"
	"time"
)

// ProxyStatus is one stream's entry in /debug/proxies: which proxy it
// serves, and per type what was sent on it and what the proxy said.
type ProxyStatus struct {
	ID     string                `json:"id"` // node id
	Pod    string                `json:"pod"`
	Stream int64                 `json:"stream"`
	Delta  bool                  `json:"delta"`
	Types  map[string]TypeStatus `json:"types"`
}

// TypeStatus is the sync state of one resource type on one stream.
type TypeStatus struct {
	Sent   string `json:"sent"`
	Acked  string `json:"acked"`
	Nacked string `json:"nacked,omitempty"`
	Error  string `json:"error,omitempty"`
	// Waiting: the proxy has not confirmed its current view of the type
	// yet (a response in flight, or make before break holding it back).
	Waiting    bool      `json:"waiting,omitempty"`
	LastChange time.Time `json:"lastChange"`
}

// statuses lists every stream that has named its node, by node id.
func (c *viewCache) statuses() []ProxyStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ProxyStatus, 0, len(c.streams))
	for _, st := range c.streams {
		if st.node == nil {
			continue
		}
		ps := ProxyStatus{ID: st.nodeID, Stream: st.id, Delta: st.delta, Types: make(map[string]TypeStatus, len(st.types))}
		for typeURL, ts := range st.types {
			s := TypeStatus{Sent: ts.lastSent, Error: ts.nackErr, LastChange: ts.lastChange,
				Waiting: !ts.exactly(st.entry.view.typeView(typeURL))}
			if ts.acked != nil {
				s.Acked = ts.acked.version
			}
			if ts.nacked != nil {
				s.Nacked = ts.nacked.version
			}
			ps.Types[typeURL] = s
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Stream < out[j].Stream
	})
	return out
}
