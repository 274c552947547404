package ratelimit

import (
	"context"
	"log/slog"
	"sort"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// ServiceStatus is what one connected rate-limit service instance has
// taken from us, for /debug/ratelimit and the log.
type ServiceStatus struct {
	Node   string `json:"node"`
	Sent   string `json:"sent,omitempty"`
	Acked  string `json:"acked,omitempty"`
	Nacked string `json:"nacked,omitempty"`
	Error  string `json:"error,omitempty"`
}

// serviceCallbacks records each stream's node and its ACKs and NACKs: the
// service NACKs a config it cannot load (and keeps its last good one).
type serviceCallbacks struct {
	serverv3.CallbackFuncs
	log *slog.Logger

	mu      sync.Mutex
	streams map[int64]*ServiceStatus
}

func newServiceCallbacks(log *slog.Logger) *serviceCallbacks {
	c := &serviceCallbacks{log: log, streams: map[int64]*ServiceStatus{}}
	c.StreamOpenFunc = func(context.Context, int64, string) error { return nil }
	c.StreamClosedFunc = c.closed
	c.StreamRequestFunc = c.request
	c.StreamResponseFunc = c.response
	return c
}

func (c *serviceCallbacks) closed(id int64, node *corev3.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.streams[id]; st != nil {
		c.log.Info("rate-limit service disconnected", "node", st.Node)
	}
	delete(c.streams, id)
}

// request: the first names the node; later ones ACK (version, no error) or
// NACK (error_detail) what was sent.
func (c *serviceCallbacks) request(id int64, req *discoverypb.DiscoveryRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[id]
	if st == nil {
		st = &ServiceStatus{Node: req.GetNode().GetId()}
		c.streams[id] = st
		c.log.Info("rate-limit service connected", "node", st.Node)
	}
	if req.GetTypeUrl() != resourcev3.RateLimitConfigType || req.GetResponseNonce() == "" {
		return nil
	}
	if d := req.GetErrorDetail(); d != nil {
		st.Nacked, st.Error = st.Sent, d.GetMessage()
		c.log.Warn("rate-limit service rejected its config; it keeps the last one it accepted", "node", st.Node, "version", st.Sent, "error", d.GetMessage())
		return nil
	}
	st.Acked, st.Error = req.GetVersionInfo(), ""
	return nil
}

func (c *serviceCallbacks) response(_ context.Context, id int64, _ *discoverypb.DiscoveryRequest, resp *discoverypb.DiscoveryResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.streams[id]; st != nil {
		st.Sent = resp.GetVersionInfo()
	}
}

func (c *serviceCallbacks) status() []ServiceStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ServiceStatus, 0, len(c.streams))
	for _, st := range c.streams {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}
