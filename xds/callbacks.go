package xds

import (
	"context"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
)

// callbacks see every stream's life in go-control-plane's server: opened
// (within the stream limits), each request (its node fixed for the life of
// the stream, only types pilotlight serves), each response put on the wire,
// closed. The state they keep is the cache's, per stream (stream.go).
type callbacks struct {
	cache   *viewCache
	metrics *metrics
	auth    *streamAuth // proves who is on each stream (auth.go)
}

var _ serverv3.Callbacks = (*callbacks)(nil)

func (cb *callbacks) request(id int64, req interface {
	GetNode() *core.Node
	GetTypeUrl() string
}, setNode func(*core.Node)) error {
	// A stream's first request: the node's shape and size first, then its
	// proof (auth.go), and only then is it bound, so that a stream that
	// proves nothing never gets a view built or a node registered.
	if err := cb.cache.checkFirstNode(id, req.GetNode()); err != nil {
		return err
	}
	if !served(req.GetTypeUrl()) {
		return cb.cache.limitHit(limitTypeURL, codes.InvalidArgument, "type %q is not served here", req.GetTypeUrl())
	}
	if err := cb.auth.check(id, req.GetNode()); err != nil {
		return err
	}
	node, err := cb.cache.bind(id, req.GetNode())
	if err != nil {
		return err
	}
	setNode(node)
	return nil
}

func (cb *callbacks) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	if err := cb.cache.openStream(id, connOf(ctx), false); err != nil {
		return err
	}
	cb.auth.opened(ctx, id)
	return nil
}
func (cb *callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	if err := cb.cache.openStream(id, connOf(ctx), true); err != nil {
		return err
	}
	cb.auth.opened(ctx, id)
	return nil
}
func (cb *callbacks) OnStreamClosed(id int64, _ *core.Node)      { cb.closed(id) }
func (cb *callbacks) OnDeltaStreamClosed(id int64, _ *core.Node) { cb.closed(id) }

func (cb *callbacks) closed(id int64) {
	cb.cache.closeStream(id)
	cb.auth.closed(id)
}

func (cb *callbacks) OnStreamRequest(id int64, r *discoverypb.DiscoveryRequest) error {
	if err := cb.request(id, r, func(n *core.Node) { r.Node = n }); err != nil {
		return err
	}
	cb.cache.keepNames(id, r)
	return nil
}
func (cb *callbacks) OnStreamDeltaRequest(id int64, r *discoverypb.DeltaDiscoveryRequest) error {
	if err := cb.request(id, r, func(n *core.Node) { r.Node = n }); err != nil {
		return err
	}
	cb.cache.keepDeltaNames(id, r)
	return nil
}

func (cb *callbacks) OnStreamResponse(_ context.Context, id int64, _ *discoverypb.DiscoveryRequest, r *discoverypb.DiscoveryResponse) {
	cb.cache.responded(id, r.GetTypeUrl(), r, r.GetNonce())
	cb.metrics.pushes.WithLabelValues(typeLabel(r.GetTypeUrl())).Inc()
}
func (cb *callbacks) OnStreamDeltaResponse(id int64, _ *discoverypb.DeltaDiscoveryRequest, r *discoverypb.DeltaDiscoveryResponse) {
	cb.cache.responded(id, r.GetTypeUrl(), r, r.GetNonce())
	cb.metrics.pushes.WithLabelValues(typeLabel(r.GetTypeUrl())).Inc()
}

func (cb *callbacks) OnFetchRequest(context.Context, *discoverypb.DiscoveryRequest) error           { return nil }
func (cb *callbacks) OnFetchResponse(*discoverypb.DiscoveryRequest, *discoverypb.DiscoveryResponse) {}
