package xds

import (
	"context"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Limits bound what one client can make the server hold: every network
// input is hostile until proven otherwise. Each limit a client hits is
// counted in pilotlight_xds_limit_hits_total{limit}.
type Limits struct {
	// MaxStreams bounds the open ADS streams of the server in all.
	MaxStreams int
	// MaxStreamsPerConnection bounds the streams of one gRPC connection
	// (Envoy opens one per connection).
	MaxStreamsPerConnection int
	// MaxNodeIDBytes and MaxNodeMetadataBytes bound what a stream's node
	// is kept as for the life of the stream.
	MaxNodeIDBytes       int
	MaxNodeMetadataBytes int
	// MaxRequestBytes bounds one request message.
	MaxRequestBytes int
	// SendTimeout ends a stream whose proxy does not take a response in
	// this time (it stopped reading): its memory is not held for it.
	SendTimeout time.Duration
	// RemovalGrace bounds how long make before break keeps what a proxy
	// no longer needs while it waits for the proxy to confirm the change.
	RemovalGrace time.Duration
}

// DefaultLimits are sized for thousands of proxies per replica. A node id
// is type~ip~pod.namespace~domain: a 253-character pod name in a
// 63-character namespace stays under 512 bytes. 100 streams per connection
// is HTTP/2's recommended minimum for SETTINGS_MAX_CONCURRENT_STREAMS.
func DefaultLimits() Limits {
	return Limits{
		MaxStreams:              10000,
		MaxStreamsPerConnection: 100,
		MaxNodeIDBytes:          1024,
		MaxNodeMetadataBytes:    64 << 10,
		MaxRequestBytes:         4 << 20,
		SendTimeout:             30 * time.Second,
		RemovalGrace:            30 * time.Second,
	}
}

// withDefaults fills the unset (zero) limits from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&l.MaxStreams, d.MaxStreams)
	fill(&l.MaxStreamsPerConnection, d.MaxStreamsPerConnection)
	fill(&l.MaxNodeIDBytes, d.MaxNodeIDBytes)
	fill(&l.MaxNodeMetadataBytes, d.MaxNodeMetadataBytes)
	fill(&l.MaxRequestBytes, d.MaxRequestBytes)
	if l.SendTimeout <= 0 {
		l.SendTimeout = d.SendTimeout
	}
	if l.RemovalGrace <= 0 {
		l.RemovalGrace = d.RemovalGrace
	}
	return l
}

// ServerOptions are the gRPC server options that enforce the limits in
// the transport. HTTP/2 tells the client the per-connection limit, plus
// one: the one extra stream reaches pilotlight and is refused with a
// status that says why (and is counted); streams beyond that are refused
// by HTTP/2 itself before any handler runs.
func (l Limits) ServerOptions() []grpc.ServerOption {
	l = l.withDefaults()
	perConn := uint32(min(l.MaxStreamsPerConnection, math.MaxUint32-1)) + 1
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(perConn),
		grpc.MaxRecvMsgSize(l.MaxRequestBytes),
		// A connection's read buffer lives as long as the connection, and a
		// proxy's requests are few: 4 KiB, not gRPC's 32, for each of
		// thousands of proxies (a larger read bypasses the buffer anyway).
		grpc.ReadBufferSize(readBufferSize),
		// A connection's 32 KiB write buffer goes back to a pool once a
		// write is flushed, instead of staying with each idle proxy.
		grpc.SharedWriteBuffer(true),
		// A fixed flow-control window turns off gRPC's bandwidth probe,
		// which answered every request (an ACK) with a window update and
		// a PING: a second write, and a read of the PING's answer, per
		// proxy and change. 1 MiB holds the largest ACK of a big mesh in
		// one go; the probe could grow the window to 16 MiB.
		grpc.StaticStreamWindowSize(flowWindow),
		grpc.StaticConnWindowSize(flowWindow),
	}
}

const (
	readBufferSize = 4 << 10
	flowWindow     = 1 << 20
)

// The limits, as labels of pilotlight_xds_limit_hits_total.
const (
	limitStreams              = "streams"
	limitStreamsPerConnection = "streams_per_connection"
	limitNodeID               = "node_id_bytes"
	limitNodeMetadata         = "node_metadata_bytes"
	limitNodeIDChanged        = "node_id_changed"
	limitTypeURL              = "type_url"
	limitSendTimeout          = "send_timeout"
)

var limitNames = []string{limitStreams, limitStreamsPerConnection, limitNodeID, limitNodeMetadata, limitNodeIDChanged, limitTypeURL, limitSendTimeout}

// limitHit counts a limit hit and returns the error that ends the stream.
func (c *viewCache) limitHit(limit string, code codes.Code, format string, args ...any) error {
	c.metrics.limitHits.WithLabelValues(limit).Inc()
	err := status.Errorf(code, "pilotlight: "+format, args...)
	c.log.Warn("xDS client over a limit; stream refused", "limit", limit, "error", err)
	return err
}

// connOf names the connection a stream came on: its peer's address, which
// is unique per open TCP connection.
func connOf(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	local := ""
	if p.LocalAddr != nil {
		local = p.LocalAddr.String()
	}
	return fmt.Sprintf("%s>%s", p.Addr, local)
}
