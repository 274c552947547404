// Package xdstest is a minimal ADS client for tests and load: it speaks the
// state-of-the-world protocol the way Envoy does (subscribe, ACK, NACK).
package xdstest

import (
	"context"
	"fmt"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Client is one fake proxy with one ADS stream.
type Client struct {
	NodeID string
	stream discoverypb.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

// Open starts an ADS stream for a node over an existing connection.
func Open(ctx context.Context, conn grpc.ClientConnInterface, nodeID string) (*Client, error) {
	ctx = context.WithValue(ctx, nodeKey{}, nodeID)
	stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("open ADS stream: %w", err)
	}
	return &Client{NodeID: nodeID, stream: stream}, nil
}

// Subscribe asks for a type (all of it when names is empty).
func (c *Client) Subscribe(typeURL string, names ...string) error {
	return c.stream.Send(&discoverypb.DiscoveryRequest{
		Node: &core.Node{Id: c.NodeID}, TypeUrl: typeURL, ResourceNames: names,
	})
}

// Recv waits for the next response.
func (c *Client) Recv() (*discoverypb.DiscoveryResponse, error) { return c.stream.Recv() }

// Ack accepts a response, as Envoy does after applying it.
func (c *Client) Ack(resp *discoverypb.DiscoveryResponse, names ...string) error {
	return c.stream.Send(&discoverypb.DiscoveryRequest{
		TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ResourceNames: names,
	})
}

// Nack rejects a response: the version stays the last accepted one.
func (c *Client) Nack(resp *discoverypb.DiscoveryResponse, lastGood, message string, names ...string) error {
	return c.stream.Send(&discoverypb.DiscoveryRequest{
		TypeUrl: resp.GetTypeUrl(), VersionInfo: lastGood, ResponseNonce: resp.GetNonce(), ResourceNames: names,
		ErrorDetail: &status.Status{Code: 3, Message: message},
	})
}

// Close ends the stream.
func (c *Client) Close() error { return c.stream.CloseSend() }

// WithToken returns a context whose streams carry "authorization: Bearer
// token", as Envoy sends its token file.
func WithToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

type nodeKey struct{}
type noTokenKey struct{}

// NodeID is the node id that Open or OpenDelta opens a stream for, in the
// stream's context: a test's gRPC interceptor may derive a token from it.
func NodeID(ctx context.Context) string { s, _ := ctx.Value(nodeKey{}).(string); return s }

// WithoutToken marks a context whose streams must carry no token, even
// where a test interceptor would add one.
func WithoutToken(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTokenKey{}, true)
}

// TokenWanted: nothing said the stream must go without a token, and it
// carries none yet.
func TokenWanted(ctx context.Context) bool {
	md, _ := metadata.FromOutgoingContext(ctx)
	return ctx.Value(noTokenKey{}) == nil && len(md.Get("authorization")) == 0
}

// Send sends a request as is, for tests that need one Envoy would not send.
func (c *Client) Send(req *discoverypb.DiscoveryRequest) error { return c.stream.Send(req) }
