package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"time"
)

// DefaultWorkloadCertTTL is how long a workload certificate lasts unless
// told otherwise: 24 hours, Istio's DEFAULT_WORKLOAD_CERT_TTL.
const DefaultWorkloadCertTTL = 24 * time.Hour

// Certificate is a key and the certificate chain that goes with it.
type Certificate struct {
	// ChainPEM is the leaf certificate followed by the CA's chain.
	ChainPEM []byte
	// KeyPEM is the leaf's private key (PKCS#8). It never leaves the
	// control plane except over the proxy's own authenticated stream.
	KeyPEM   []byte
	Leaf     *x509.Certificate
	IssuedAt time.Time
}

// Serial is the leaf's serial number in hex, as openssl and Envoy's
// admin /certs print it.
func (c *Certificate) Serial() string { return fmt.Sprintf("%x", c.Leaf.SerialNumber) }

// RenewAt is half-way through the certificate's life: when the control
// plane pushes a new one (Istio's agent renews at 50%).
func (c *Certificate) RenewAt() time.Time {
	return c.IssuedAt.Add(c.Leaf.NotAfter.Sub(c.IssuedAt) / 2)
}

// TLS returns the certificate for a Go TLS server or client.
func (c *Certificate) TLS() (tls.Certificate, error) { return tls.X509KeyPair(c.ChainPEM, c.KeyPEM) }

// IssueWorkload makes a new key and a certificate for one identity: its
// only name is the URI SAN spiffe://<trust domain>/ns/<ns>/sa/<sa>, and it
// serves for both TLS client and server authentication, as Istio's do. The
// identity is the one the caller proved; nothing a client asks for goes in.
func (ca *CA) IssueWorkload(id Identity, ttl time.Duration) (*Certificate, error) {
	if id.TrustDomain == "" {
		id.TrustDomain = ca.trustDomain
	}
	if id.Namespace == "" || id.ServiceAccount == "" {
		return nil, fmt.Errorf("workload identity needs a namespace and a service account: %+v", id)
	}
	uri, err := url.Parse(id.SpiffeID())
	if err != nil {
		return nil, err
	}
	return ca.issue(ttl, func(t *x509.Certificate) {
		t.URIs = []*url.URL{uri}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	})
}

// IssueServer makes a server certificate for the control plane's own TLS
// (the xDS port) with these DNS names and IP addresses.
func (ca *CA) IssueServer(dnsNames []string, ips []net.IP, ttl time.Duration) (*Certificate, error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, fmt.Errorf("a server certificate needs a DNS name or an IP address")
	}
	return ca.issue(ttl, func(t *x509.Certificate) {
		t.DNSNames, t.IPAddresses = dnsNames, ips
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if len(dnsNames) > 0 {
			t.Subject.CommonName = dnsNames[0]
		}
	})
}

// issue signs a certificate for a fresh ECDSA P-256 key. Its life is ttl,
// cut short at the CA certificate's own end.
func (ca *CA) issue(ttl time.Duration, names func(*x509.Certificate)) (*Certificate, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("certificate TTL %v: must be positive", ttl)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := ca.now()
	notAfter := now.Add(ttl)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	names(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := keyToPEM(key)
	if err != nil {
		return nil, err
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain = append(chain, ca.chainPEM...)
	chain = append(chain, '\n')
	return &Certificate{ChainPEM: chain, KeyPEM: keyPEM, Leaf: leaf, IssuedAt: now}, nil
}
