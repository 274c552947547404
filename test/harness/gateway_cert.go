package harness

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// Cert is a self-signed server certificate for tests: PEM, and a pool that
// trusts it.
type Cert struct {
	CertPEM, KeyPEM []byte
	Leaf            *x509.Certificate
	Pool            *x509.CertPool
}

// SelfSignedCert makes an ECDSA P-256 certificate for names (the first is
// also the subject), valid from an hour ago for a day.
func SelfSignedCert(t testing.TB, names ...string) *Cert {
	t.Helper()
	key := newKey(t)
	leaf := selfSigned(t, key, &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &Cert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: marshalKey(t, key)}),
		Leaf:    leaf,
		Pool:    pool,
	}
}

// ClientConfig trusts only this certificate and asks for serverName (SNI).
func (c *Cert) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: c.Pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// WriteFiles writes the certificate and key into LogDir(t) as
// <name>.crt and <name>.key and returns their paths.
func (c *Cert) WriteFiles(t testing.TB, name string) (certFile, keyFile string) {
	t.Helper()
	dir := LogDir(t)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	for path, data := range map[string][]byte{certFile: c.CertPEM, keyFile: c.KeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatalf("harness: %v", err)
		}
	}
	return certFile, keyFile
}

// SecretYAML is the certificate as a kubernetes.io/tls Secret, as
// `kubectl create secret tls NAME --cert --key` makes it.
func (c *Cert) SecretYAML(name, namespace string) string {
	return secretYAML(name, namespace, "kubernetes.io/tls", secretItem{"tls.crt", c.CertPEM}, secretItem{"tls.key", c.KeyPEM})
}
