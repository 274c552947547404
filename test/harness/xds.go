package harness

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
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
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("harness: no certificate in %s/root-cert.pem", stateDir)
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
