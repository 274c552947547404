package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/ratelimit"
)

// rateLimitXDS is the optional second gRPC server of `serve`
// (--ratelimit-xds-addr): the envoyproxy/ratelimit service's xDS server.
// Its zero value (no address) does nothing.
type rateLimitXDS struct {
	server   *ratelimit.Server
	grpc     *grpc.Server
	listener net.Listener
}

func newRateLimitXDS(ctx context.Context, addr string, log *slog.Logger) (*rateLimitXDS, error) {
	if addr == "" {
		return &rateLimitXDS{}, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--ratelimit-xds-addr: %w", err)
	}
	r := &rateLimitXDS{server: ratelimit.NewServer(ctx, log.With("component", "ratelimit-xds")), grpc: grpc.NewServer(), listener: lis}
	r.server.Register(r.grpc)
	return r, nil
}

func (r *rateLimitXDS) update(snap *discovery.Snapshot) {
	if r.server != nil {
		r.server.Update(snap)
	}
}

func (r *rateLimitXDS) serve(errs chan<- error) {
	if r.server != nil {
		go func() { errs <- r.grpc.Serve(r.listener) }()
	}
}

func (r *rateLimitXDS) stop() {
	if r.server != nil {
		r.grpc.Stop()
	}
}

func (r *rateLimitXDS) addr() string {
	if r.listener == nil {
		return ""
	}
	return r.listener.Addr().String()
}

// status is /debug/ratelimit: the limits' version and each connected
// service instance's sent, ACKed and NACKed versions.
func (r *rateLimitXDS) status() any {
	if r.server == nil {
		return map[string]any{"enabled": false}
	}
	return map[string]any{"enabled": true, "addr": r.addr(), "version": r.server.Version(), "services": r.server.Services()}
}
