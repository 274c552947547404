package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPKI is a throwaway certificate authority with one server and one
// client certificate, written as PEM files for Envoy to read (DestinationRule
// tls.caCertificates, clientCertificate, privateKey, caCrl), or as a Secret
// for a gateway's mutual TLS (SecretYAML).
type TestPKI struct {
	Dir string
	// CAFile, CRLFile: the CA certificate and an (empty) revocation list.
	CAFile, CRLFile string
	// ClientCertFile, ClientKeyFile: a client certificate with CommonName
	// ClientName, for MUTUAL.
	ClientCertFile, ClientKeyFile string
	ClientName                    string
	// Server is the server certificate, for a Go TLS server; its DNS names
	// are the ones given to NewTestPKI. ServerCertPEM and ServerKeyPEM are
	// the same, for a Secret.
	Server                      tls.Certificate
	ServerCertPEM, ServerKeyPEM []byte
	// Client is the client certificate, for a Go TLS client.
	Client tls.Certificate
	// CAPEM is the CA certificate.
	CAPEM []byte
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
	pki.ServerCertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverDER})
	pki.ServerKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: marshalKey(t, serverKey)})
	pki.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})

	clientKey, clientDER := newLeaf(t, caKey, caCert, &x509.Certificate{
		Subject: pkix.Name{CommonName: clientName}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	pki.ClientCertFile = writePEM(t, dir, "client.pem", "CERTIFICATE", clientDER)
	pki.ClientKeyFile = writePEM(t, dir, "client-key.pem", "PRIVATE KEY", marshalKey(t, clientKey))
	pki.Client = tls.Certificate{Certificate: [][]byte{clientDER}, PrivateKey: clientKey}
	return pki
}

// SecretYAML is the server certificate with the CA as an Opaque Secret, as
// Istio's mutual TLS ingress task makes it (kubectl create secret generic
// --from-file=tls.crt --from-file=tls.key --from-file=ca.crt).
func (pki *TestPKI) SecretYAML(name, namespace string) string {
	return secretYAML(name, namespace, "Opaque",
		secretItem{"tls.crt", pki.ServerCertPEM}, secretItem{"tls.key", pki.ServerKeyPEM}, secretItem{"ca.crt", pki.CAPEM})
}

type secretItem struct {
	key  string
	data []byte
}

// secretYAML is a Secret with these data items, base64 as the API has them.
func secretYAML(name, namespace, secretType string, items ...secretItem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\ntype: %s\ndata:\n", q(name), q(namespace), secretType)
	for _, it := range items {
		fmt.Fprintf(&b, "  %s: %s\n", it.key, base64.StdEncoding.EncodeToString(it.data))
	}
	return b.String()
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
