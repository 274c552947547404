package xds

import (
	"context"
	"log/slog"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// callbacks watch every stream: which proxy it belongs to, what was sent on
// it and whether the proxy accepted it.
type callbacks struct {
	log     *slog.Logger
	status  *statusTracker
	metrics *metrics
	cache   *viewCache
	now     func() time.Time

	mu      sync.Mutex
	streams map[int64]string // stream id → node id
	open    map[string]int   // node id → open streams
}

var _ serverv3.Callbacks = (*callbacks)(nil)

func (cb *callbacks) nodeOf(streamID int64, node *core.Node) string {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if id := node.GetId(); id != "" {
		if _, known := cb.streams[streamID]; !known {
			cb.streams[streamID] = id
			cb.open[id]++
			cb.status.agent(id, node)
			cb.metrics.connected.Inc()
			cb.log.Info("proxy connected", "node", id, "stream", streamID)
		}
		return id
	}
	return cb.streams[streamID]
}

func (cb *callbacks) closed(streamID int64) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	id, ok := cb.streams[streamID]
	if !ok {
		return
	}
	delete(cb.streams, streamID)
	cb.metrics.connected.Dec()
	cb.log.Info("proxy disconnected", "node", id, "stream", streamID)
	if cb.open[id]--; cb.open[id] <= 0 {
		delete(cb.open, id)
		cb.cache.Forget(id)
		cb.status.forget(id)
	}
}

func (cb *callbacks) request(streamID int64, node *core.Node, typeURL, nonce, version string, errorDetail string) {
	id := cb.nodeOf(streamID, node)
	if cb.status.answered(id, typeURL, nonce, errorDetail, cb.now()) {
		cb.metrics.nacks.WithLabelValues(typeLabel(typeURL)).Inc()
		cb.log.Warn("proxy rejected config (NACK); it keeps its last good config", "node", id, "type", typeURL, "error", errorDetail)
	}
}

func (cb *callbacks) response(streamID int64, typeURL, version, nonce string) {
	id := cb.nodeOf(streamID, nil)
	cb.status.sent(id, typeURL, version, nonce, cb.now())
	cb.metrics.pushes.WithLabelValues(typeLabel(typeURL)).Inc()
}

func (cb *callbacks) OnStreamOpen(context.Context, int64, string) error { return nil }
func (cb *callbacks) OnStreamClosed(id int64, _ *core.Node)             { cb.closed(id) }
func (cb *callbacks) OnStreamRequest(id int64, r *discoverypb.DiscoveryRequest) error {
	cb.request(id, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), r.GetVersionInfo(), r.GetErrorDetail().GetMessage())
	return nil
}
func (cb *callbacks) OnStreamResponse(_ context.Context, id int64, _ *discoverypb.DiscoveryRequest, r *discoverypb.DiscoveryResponse) {
	cb.response(id, r.GetTypeUrl(), r.GetVersionInfo(), r.GetNonce())
}
func (cb *callbacks) OnDeltaStreamOpen(context.Context, int64, string) error { return nil }
func (cb *callbacks) OnDeltaStreamClosed(id int64, _ *core.Node)             { cb.closed(id) }
func (cb *callbacks) OnStreamDeltaRequest(id int64, r *discoverypb.DeltaDiscoveryRequest) error {
	cb.request(id, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), "", r.GetErrorDetail().GetMessage())
	return nil
}
func (cb *callbacks) OnStreamDeltaResponse(id int64, _ *discoverypb.DeltaDiscoveryRequest, r *discoverypb.DeltaDiscoveryResponse) {
	cb.response(id, r.GetTypeUrl(), r.GetSystemVersionInfo(), r.GetNonce())
}
func (cb *callbacks) OnFetchRequest(context.Context, *discoverypb.DiscoveryRequest) error           { return nil }
func (cb *callbacks) OnFetchResponse(*discoverypb.DiscoveryRequest, *discoverypb.DiscoveryResponse) {}
