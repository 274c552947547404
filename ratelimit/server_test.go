package ratelimit

import (
	"context"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rlsconf "github.com/envoyproxy/go-control-plane/ratelimit/config/ratelimit/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pilotlight/pilotlight/discovery"
)

// TestServerServesEveryInstance: any node id gets the limits; a new
// snapshot with other limits is pushed on the open stream, an equal one is
// not; ACKs and NACKs are recorded.
func TestServerServesEveryInstance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := NewServer(ctx, nil)
	g := grpc.NewServer()
	s.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	snap := &discovery.Snapshot{RateLimitPolicies: []*discovery.RateLimitPolicy{plans()}}
	s.Update(snap)
	first := s.Version()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "ratelimit-7d9f"}
	send := func(version, nonce string, nack bool) {
		t.Helper()
		req := &discoverypb.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RateLimitConfigType, VersionInfo: version, ResponseNonce: nonce}
		if nack {
			req.ErrorDetail = &status.Status{Code: 3, Message: "bad config"}
		}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() *discoverypb.DiscoveryResponse {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	send("", "", false)
	resp := recv()
	if resp.VersionInfo != first || len(resp.Resources) != 1 {
		t.Fatalf("first response: version %q (want %q), %d resources", resp.VersionInfo, first, len(resp.Resources))
	}
	got := &rlsconf.RateLimitConfig{}
	if err := resp.Resources[0].UnmarshalTo(got); err != nil || got.Domain != "istio-system/plans" {
		t.Fatalf("resource %v, %v", got, err)
	}
	send(resp.VersionInfo, resp.Nonce, false)

	// The same limits again: no new version.
	s.Update(&discovery.Snapshot{RateLimitPolicies: []*discovery.RateLimitPolicy{plans()}})
	if s.Version() != first {
		t.Fatalf("unchanged limits got a new version")
	}
	// Other limits: pushed.
	p := plans()
	p.Spec.Global.Rules[0].Limit.Requests = 5
	s.Update(&discovery.Snapshot{RateLimitPolicies: []*discovery.RateLimitPolicy{p}})
	resp = recv()
	if resp.VersionInfo == first || resp.VersionInfo != s.Version() {
		t.Fatalf("second response version %q, server %q, first %q", resp.VersionInfo, s.Version(), first)
	}
	send(first, resp.Nonce, true)

	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Services()
		if len(st) == 1 && st[0].Node == "ratelimit-7d9f" && st[0].Acked == first && st[0].Nacked == resp.VersionInfo && st[0].Error == "bad config" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
