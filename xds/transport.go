package xds

import (
	"crypto/tls"
	"net"
	"sync"

	"google.golang.org/grpc/credentials"
)

// ServerCredentials are gRPC's TLS credentials for the ADS port, with two
// changes for a server that sends megabytes to thousands of proxies:
//   - a write of gRPC's (up to its write buffer, many HTTP/2 frames) goes
//     to the socket in one system call: crypto/tls writes each TLS record
//     of it on its own, and a cold sync of 3.6 MB to each of two thousand
//     proxies was most of all the server's system calls;
//   - TLS records are full size from the first byte: crypto/tls starts a
//     connection with small records (dynamic record sizing, for browsers
//     that render the first bytes early), which only adds records here.
func ServerCredentials(cfg *tls.Config) credentials.TransportCredentials {
	cfg = cfg.Clone()
	cfg.DynamicRecordSizingDisabled = true
	return &coalescingCredentials{TransportCredentials: credentials.NewTLS(cfg)}
}

type coalescingCredentials struct {
	credentials.TransportCredentials
}

func (c *coalescingCredentials) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	socket := &recordBuffer{Conn: raw}
	conn, info, err := c.TransportCredentials.ServerHandshake(socket)
	if err != nil {
		return nil, nil, err
	}
	return &coalescingConn{Conn: conn, socket: socket}, info, nil
}

func (c *coalescingCredentials) Clone() credentials.TransportCredentials {
	return &coalescingCredentials{TransportCredentials: c.TransportCredentials.Clone()}
}

// coalescingConn is the TLS connection: each Write's records are held by
// the socket below and written together when the Write is done.
type coalescingConn struct {
	net.Conn // gRPC's wrapper of the *tls.Conn
	socket   *recordBuffer
}

func (c *coalescingConn) Write(b []byte) (int, error) {
	c.socket.hold()
	n, err := c.Conn.Write(b)
	if ferr := c.socket.release(); err == nil {
		err = ferr
	}
	return n, err
}

// recordBuffer is the socket under TLS. While held, what TLS writes (the
// records of one Write, and any record the reading side writes meanwhile,
// in the order TLS made them) is kept, and release writes it at once.
// Otherwise (the handshake) writes go straight to the socket.
type recordBuffer struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     *[]byte // from heldRecords while held
}

// maxPooledRecords: a buffer grown past this by a large write is dropped.
const maxPooledRecords = 1 << 20

// heldRecords are the buffers of held writes, shared by all connections.
var heldRecords = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func (s *recordBuffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holding {
		if s.buf == nil {
			s.buf = heldRecords.Get().(*[]byte)
		}
		*s.buf = append(*s.buf, b...)
		return len(b), nil
	}
	return s.Conn.Write(b)
}

func (s *recordBuffer) hold() {
	s.mu.Lock()
	s.holding = true
	s.mu.Unlock()
}

// release writes what was held. The buffer goes back to the pool: an idle
// proxy's connection holds no write buffer (as with grpc.SharedWriteBuffer).
func (s *recordBuffer) release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding = false
	if s.buf == nil {
		return nil
	}
	_, err := s.Conn.Write(*s.buf)
	if cap(*s.buf) <= maxPooledRecords {
		*s.buf = (*s.buf)[:0]
		heldRecords.Put(s.buf)
	}
	s.buf = nil
	return err
}
