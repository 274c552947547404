package xds

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// A large write over the ADS port's TLS is one write to the socket, and
// arrives whole; crypto/tls alone writes each of its records (the first
// ones small) on its own, which the count must see for the test to mean
// anything.
func TestServerCredentialsWriteOnceForManyRecords(t *testing.T) {
	certPEM, keyPEM := discoverytest.SelfSigned(t, "pilotlight.test")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320 kB: twenty full records

	for _, tc := range []struct {
		name      string
		coalesced bool
	}{
		{"ServerCredentials", true},
		{"crypto/tls alone", false},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		received := make(chan []byte, 1)
		go func() {
			c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "pilotlight.test", NextProtos: []string{"h2"}})
			if err != nil {
				received <- nil
				return
			}
			defer c.Close()
			b, _ := io.ReadAll(io.LimitReader(c, int64(len(payload))))
			received <- b
		}()
		raw, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		counting := &countingConn{Conn: raw}
		var conn net.Conn
		if tc.coalesced {
			conn, _, err = ServerCredentials(&tls.Config{Certificates: []tls.Certificate{cert}}).ServerHandshake(counting)
		} else {
			tc := tls.Server(counting, &tls.Config{Certificates: []tls.Certificate{cert}})
			conn, err = tc, tc.Handshake()
		}
		if err != nil {
			t.Fatal(err)
		}
		before := counting.writes.Load()
		if _, err := conn.Write(payload); err != nil {
			t.Fatal(err)
		}
		writes := counting.writes.Load() - before
		if got := <-received; !bytes.Equal(got, payload) {
			t.Errorf("%s: the client read %d bytes, not the %d written", tc.name, len(got), len(payload))
		}
		if tc.coalesced != (writes == 1) {
			t.Errorf("%s: %d writes to the socket for %d bytes", tc.name, writes, len(payload))
		}
		conn.Close()
		ln.Close()
	}
}
