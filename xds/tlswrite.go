package xds

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"

	"google.golang.org/grpc/credentials"
)

// Writing TLS in fewer system calls.
//
// Go's crypto/tls writes each record (16 KB at most) to the socket with a
// system call of its own. A route table of 583 KB is 36 records, so a
// change that reaches 2,000 proxies made 72,000 write calls, each its own
// trip through loopback TCP and a wake-up of the reader. The server's
// connections therefore collect the records of one write (one flush of
// gRPC's write buffer) and hand them to the socket at once: the same
// bytes, in one call instead of several.

// ServerCredentials are gRPC's TLS credentials for the ADS server, whose
// connections write each batch of TLS records in one system call.
func ServerCredentials(cfg *tls.Config) credentials.TransportCredentials {
	return batchedTLS{credentials.NewTLS(cfg)}
}

type batchedTLS struct {
	credentials.TransportCredentials
}

func (c batchedTLS) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	b := &batchingConn{Conn: raw}
	conn, info, err := c.TransportCredentials.ServerHandshake(b)
	if err != nil {
		return nil, nil, err
	}
	return &flushingConn{Conn: conn, batch: b}, info, nil
}

func (c batchedTLS) Clone() credentials.TransportCredentials {
	return batchedTLS{c.TransportCredentials.Clone()}
}

// batchingConn is the socket under TLS. Between start and flush it keeps
// what TLS writes; otherwise (the handshake, an alert) it writes at once.
type batchingConn struct {
	net.Conn
	mu    sync.Mutex
	on    bool
	batch *[]byte // from batches, while on
}

// batches are the buffers of the batches being written: one per
// connection that is writing, not per connection.
var batches = sync.Pool{New: func() any { b := make([]byte, 0, batchSize); return &b }}

// batchSize holds the records of one flush of gRPC's 32 KiB write buffer.
const batchSize = 33 << 10

func (b *batchingConn) start() {
	b.mu.Lock()
	b.on, b.batch = true, batches.Get().(*[]byte)
	b.mu.Unlock()
}

func (b *batchingConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		return b.Conn.Write(p)
	}
	*b.batch = append(*b.batch, p...)
	return len(p), nil
}

// flush writes the batch and ends it.
func (b *batchingConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := b.batch
	b.on, b.batch = false, nil
	var err error
	if len(*buf) > 0 {
		_, err = b.Conn.Write(*buf)
	}
	if cap(*buf) <= 1<<20 { // a rare huge batch is not kept
		*buf = (*buf)[:0]
		batches.Put(buf)
	}
	return err
}

// SyscallConn is the socket's, for what gRPC sets on it (TCP_USER_TIMEOUT).
func (b *batchingConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := b.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, syscall.EINVAL
}

// flushingConn is the TLS connection gRPC reads and writes: each write's
// records leave in one batch.
type flushingConn struct {
	net.Conn // the TLS connection
	batch    *batchingConn
	mu       sync.Mutex // one write at a time (gRPC writes from one goroutine)
}

func (f *flushingConn) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batch.start()
	n, err := f.Conn.Write(p)
	if ferr := f.batch.flush(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

func (f *flushingConn) SyscallConn() (syscall.RawConn, error) { return f.batch.SyscallConn() }
