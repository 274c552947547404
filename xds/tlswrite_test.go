package xds

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// A write of many TLS records reaches the socket in one call, and the
// client reads the same bytes; the connection still offers gRPC the
// socket (SyscallConn, for TCP_USER_TIMEOUT).
func TestServerCredentialsWriteTheRecordsOfAWriteAtOnce(t *testing.T) {
	certPEM, keyPEM := discoverytest.SelfSigned(t, "server")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	type accepted struct {
		conn net.Conn
		raw  *countingConn
		err  error
	}
	done := make(chan accepted, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			done <- accepted{err: err}
			return
		}
		raw := &countingConn{Conn: c}
		conn, _, err := ServerCredentials(&tls.Config{Certificates: []tls.Certificate{cert}}).ServerHandshake(raw)
		done <- accepted{conn, raw, err}
	}()
	client, err := tls.Dial("tcp", lis.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer a.conn.Close()
	if _, ok := a.conn.(syscall.Conn); !ok {
		t.Error("the server's connection hides its socket from gRPC")
	}
	msg := bytes.Repeat([]byte("0123456789abcdef"), 32<<10/16) // 32 KiB: three records
	before := a.raw.writes.Load()
	if _, err := a.conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	if n := a.raw.writes.Load() - before; n != 1 {
		t.Errorf("one write of %d bytes reached the socket in %d calls, want 1", len(msg), n)
	}
	client.SetDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("client read %d bytes (%v), not what was written", len(got), err)
	}
}
