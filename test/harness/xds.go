package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// XDSConn dials a pilotlight ADS port over TLS, trusting the root that
// pilotlight published in its state folder (STATE/root-cert.pem), as an
// Envoy bootstrapped from that folder does. The connection is closed at
// the test's end. Streams on it carry no token unless their context does
// (xdstest.WithToken).
func XDSConn(t testing.TB, xdsAddr, stateDir string) *grpc.ClientConn {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(stateDir, "root-cert.pem"))
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return XDSConnWithRoot(t, xdsAddr, pem)
}

// XDSConnWithRoot is XDSConn trusting the given root (PEM), e.g. the
// istio-ca-root-cert ConfigMap's in a cluster.
func XDSConnWithRoot(t testing.TB, xdsAddr string, rootPEM []byte) *grpc.ClientConn {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("harness: no certificate in the root")
	}
	conn, err := grpc.NewClient("passthrough:///"+xdsAddr,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// PodToken is the folder token `pilotlight bootstrap` minted for a pod of
// the mesh (STATE/tokens/NS.POD.token): what its Envoy sends.
func (m *Mesh) PodToken(namespace, pod string) string {
	m.T.Helper()
	b, err := os.ReadFile(filepath.Join(m.StateDir, "tokens", namespace+"."+pod+".token"))
	if err != nil {
		m.T.Fatalf("harness: %v", err)
	}
	return string(b)
}

// OpenXDSStream opens an ADS stream as node, with token as its bearer
// token (none when empty), ended at the test's end or after 20 s.
func OpenXDSStream(t testing.TB, conn grpc.ClientConnInterface, token, node string) *xdstest.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	if token != "" {
		ctx = xdstest.WithToken(ctx, token)
	}
	c, err := xdstest.Open(ctx, conn, node)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
