package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/meshdns"
)

// meshDNS is the optional DNS server of `serve` (--dns-addr). Its zero
// value (no address) does nothing.
type meshDNS struct {
	server *meshdns.Server
	conn   net.PacketConn
}

func newMeshDNS(addr string, log *slog.Logger) (*meshDNS, error) {
	if addr == "" {
		return &meshDNS{}, nil
	}
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("--dns-addr: %w", err)
	}
	return &meshDNS{server: meshdns.NewServer(log.With("component", "dns")), conn: conn}, nil
}

func (d *meshDNS) update(snap *discovery.Snapshot) {
	if d.server != nil {
		d.server.Update(snap)
	}
}

func (d *meshDNS) serve(ctx context.Context, errs chan<- error) {
	if d.server != nil {
		go func() { errs <- d.server.Serve(ctx, d.conn) }()
	}
}
