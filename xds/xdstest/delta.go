package xdstest

import (
	"context"
	"fmt"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
)

// DeltaClient is one fake proxy with one incremental (Delta) ADS stream.
type DeltaClient struct {
	NodeID string
	stream discoverypb.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	sent   bool // the node goes on the first request only, as Envoy sends it
}

// OpenDelta starts a Delta ADS stream for a node over an existing connection.
func OpenDelta(ctx context.Context, conn grpc.ClientConnInterface, nodeID string) (*DeltaClient, error) {
	ctx = context.WithValue(ctx, nodeKey{}, nodeID)
	stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("open delta ADS stream: %w", err)
	}
	return &DeltaClient{NodeID: nodeID, stream: stream}, nil
}

// Send sends a request, with the node on the stream's first one.
func (c *DeltaClient) Send(req *discoverypb.DeltaDiscoveryRequest) error {
	if !c.sent {
		req.Node, c.sent = &core.Node{Id: c.NodeID}, true
	}
	return c.stream.Send(req)
}

// Subscribe asks for resources of a type (all of them when names is empty,
// Delta's legacy wildcard) and unsubscribes others.
func (c *DeltaClient) Subscribe(typeURL string, subscribe, unsubscribe []string) error {
	return c.Send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesSubscribe: subscribe, ResourceNamesUnsubscribe: unsubscribe})
}

// Recv waits for the next response.
func (c *DeltaClient) Recv() (*discoverypb.DeltaDiscoveryResponse, error) { return c.stream.Recv() }

// Ack accepts a response.
func (c *DeltaClient) Ack(resp *discoverypb.DeltaDiscoveryResponse) error {
	return c.Send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()})
}

// Nack rejects a response.
func (c *DeltaClient) Nack(resp *discoverypb.DeltaDiscoveryResponse, message string) error {
	return c.Send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(),
		ErrorDetail: &status.Status{Code: 3, Message: message}})
}

// Close ends the stream.
func (c *DeltaClient) Close() error { return c.stream.CloseSend() }
