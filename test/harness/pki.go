package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPKI is a throwaway certificate authority with one server and one
// client certificate, written as PEM files for Envoy to read (DestinationRule
// tls.caCertificates, clientCertificate, privateKey, caCrl).
type TestPKI struct {
	Dir string
	// CAFile, CRLFile: the CA certificate and an (empty) revocation list.
	CAFile, CRLFile string
	// ClientCertFile, ClientKeyFile: a client certificate with CommonName
	// ClientName, for MUTUAL.
	ClientCertFile, ClientKeyFile string
	ClientName                    string
	// Server is the server certificate, for a Go TLS server; its DNS names
	// are the ones given to NewTestPKI.
	Server tls.Certificate
	// Pool holds the CA, for a Go server that checks client certificates.
	Pool *x509.CertPool
}

// NewTestPKI makes the CA and certificates under a fresh folder of the
// test's log folder. serverNames become the server certificate's DNS SANs.
func NewTestPKI(t testing.TB, clientName string, serverNames ...string) *TestPKI {
	t.Helper()
	dir := filepath.Join(LogDir(t), "pki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	pki := &TestPKI{Dir: dir, ClientName: clientName, Pool: x509.NewCertPool()}
	caKey, caCert := newCA(t)
	pki.Pool.AddCert(caCert)
	pki.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caCert.Raw)
	pki.CRLFile = writePEM(t, dir, "ca.crl", "X509 CRL", emptyCRL(t, caKey, caCert))

	serverKey, serverDER := newLeaf(t, caKey, caCert, &x509.Certificate{
		Subject: pkix.Name{CommonName: firstOr(serverNames, "server")}, DNSNames: serverNames,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	pki.Server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}

	clientKey, clientDER := newLeaf(t, caKey, caCert, &x509.Certificate{
		Subject: pkix.Name{CommonName: clientName}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	pki.ClientCertFile = writePEM(t, dir, "client.pem", "CERTIFICATE", clientDER)
	pki.ClientKeyFile = writePEM(t, dir, "client-key.pem", "PRIVATE KEY", marshalKey(t, clientKey))
	return pki
}

func newCA(t testing.TB) (*ecdsa.PrivateKey, *x509.Certificate) {
	key := newKey(t)
	return key, selfSigned(t, key, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pilotlight test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	})
}

// selfSigned signs tmpl with key itself, valid from an hour ago for a day.
func selfSigned(t testing.TB, key *ecdsa.PrivateKey, tmpl *x509.Certificate) *x509.Certificate {
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return cert
}

func newLeaf(t testing.TB, caKey *ecdsa.PrivateKey, ca *x509.Certificate, tmpl *x509.Certificate) (*ecdsa.PrivateKey, []byte) {
	key := newKey(t)
	tmpl.SerialNumber = randomSerial(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return key, der
}

func randomSerial(t testing.TB) *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return serial
}

func emptyCRL(t testing.TB, caKey *ecdsa.PrivateKey, ca *x509.Certificate) []byte {
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour),
	}, ca, caKey)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return der
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return key
}

func marshalKey(t testing.TB, key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return der
}

func writePEM(t testing.TB, dir, name, blockType string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return path
}

func firstOr(names []string, def string) string {
	if len(names) > 0 {
		return names[0]
	}
	return def
}
