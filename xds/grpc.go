package xds

import (
	"time"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// adsService is the ADS gRPC service: go-control-plane's server, with
// every send bounded in time. A client that stops reading fills its HTTP/2
// window, and a send then blocks; without a bound its stream (and the
// response it pins) would live as long as the client likes.
type adsService struct {
	xds   serverv3.Server
	cache *viewCache
}

type (
	sotwStream  = discoverypb.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	deltaStream = discoverypb.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
)

func (a *adsService) StreamAggregatedResources(s sotwStream) error {
	return a.xds.StreamAggregatedResources(&boundedSotw{sotwStream: s, a: a})
}

func (a *adsService) DeltaAggregatedResources(s deltaStream) error {
	return a.xds.DeltaAggregatedResources(&boundedDelta{deltaStream: s, a: a})
}

type boundedSotw struct {
	sotwStream
	a *adsService
}

func (s *boundedSotw) Send(r *discoverypb.DiscoveryResponse) error {
	return s.a.send(func() error { return s.sotwStream.Send(r) })
}

type boundedDelta struct {
	deltaStream
	a *adsService
}

func (s *boundedDelta) Send(r *discoverypb.DeltaDiscoveryResponse) error {
	return s.a.send(func() error { return s.deltaStream.Send(r) })
}

// send runs one gRPC send, giving up after the send timeout. Giving up
// ends the stream: go-control-plane returns the error from its handler,
// gRPC then cancels the stream, and that unblocks the send left behind.
func (a *adsService) send(send func() error) error {
	done := make(chan error, 1)
	go func() { done <- send() }()
	t := time.NewTimer(a.cache.limits.SendTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return a.cache.limitHit(limitSendTimeout, codes.DeadlineExceeded,
			"the proxy did not read a response in %v; closing its stream", a.cache.limits.SendTimeout)
	}
}

var _ discoverypb.AggregatedDiscoveryServiceServer = (*adsService)(nil)

// register adds the ADS service to a gRPC server.
func (a *adsService) register(g *grpc.Server) {
	discoverypb.RegisterAggregatedDiscoveryServiceServer(g, a)
}
