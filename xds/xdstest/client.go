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

// Send sends a request as is, for tests that need one Envoy would not send.
func (c *Client) Send(req *discoverypb.DiscoveryRequest) error { return c.stream.Send(req) }
