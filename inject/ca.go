package inject

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The webhook's TLS. The API server calls whichever replica the Service
// picks, so every replica's serving certificate is signed by one CA, kept in
// a Secret of pilotlight's namespace (Istio's file names). The elected
// leader puts that CA in the MutatingWebhookConfiguration's caBundle
// (cabundle.go). The mesh's workload CA (identity) is another matter.
const (
	CASecretName = "pilotlight-webhook-ca"
	caCertKey    = "ca-cert.pem"
	caKeyKey     = "ca-key.pem"
	caLifetime   = 10 * 365 * 24 * time.Hour
	certLifetime = 365 * 24 * time.Hour
)

// CA signs the webhook's serving certificates.
type CA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	CertPEM []byte
}

// NewCA makes a self-signed ECDSA P-256 CA.
func NewCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"pilotlight"}, CommonName: "pilotlight webhook CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// LoadOrCreateCA reads the CA Secret, creating it first if no replica has.
// Two replicas starting together may both try: the one that loses the
// create reads the winner's.
func LoadOrCreateCA(ctx context.Context, kc kubernetes.Interface, namespace string) (*CA, error) {
	secrets := kc.CoreV1().Secrets(namespace)
	for attempt := 0; attempt < 3; attempt++ {
		s, err := secrets.Get(ctx, CASecretName, metav1.GetOptions{})
		if err == nil {
			return caFromSecret(s)
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("webhook CA: reading Secret %s/%s: %w", namespace, CASecretName, err)
		}
		ca, err := NewCA(time.Now())
		if err != nil {
			return nil, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
		if err != nil {
			return nil, err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: CASecretName, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "pilotlight"}},
			Type:       corev1.SecretTypeOpaque,
			Data: map[string][]byte{
				caCertKey: ca.CertPEM,
				caKeyKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
			},
		}, metav1.CreateOptions{})
		if err == nil {
			return ca, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("webhook CA: creating Secret %s/%s: %w", namespace, CASecretName, err)
		}
	}
	return nil, fmt.Errorf("webhook CA: Secret %s/%s keeps changing", namespace, CASecretName)
}

func caFromSecret(s *corev1.Secret) (*CA, error) {
	where := fmt.Sprintf("webhook CA: Secret %s/%s", s.Namespace, s.Name)
	certBlock, _ := pem.Decode(s.Data[caCertKey])
	keyBlock, _ := pem.Decode(s.Data[caKeyKey])
	if certBlock == nil || keyBlock == nil {
		return nil, fmt.Errorf("%s: %s and %s must hold PEM", where, caCertKey, caKeyKey)
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", where, caCertKey, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", where, caKeyKey, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok || !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("%s: the key does not belong to the certificate", where)
	}
	return &CA{cert: cert, key: key, CertPEM: s.Data[caCertKey]}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// Issue signs a serving certificate for hosts (DNS names or IPs).
func (ca *CA) Issue(hosts []string, now time.Time) (*tls.Certificate, error) {
	if len(hosts) == 0 {
		return nil, errors.New("webhook certificate: no host names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"pilotlight"}, CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServingCerts hands the TLS server a certificate for hosts, issued again
// once half of its life is over, so a long-running replica never serves an
// expired one.
type ServingCerts struct {
	ca    *CA
	hosts []string
	now   func() time.Time

	mu   sync.Mutex
	cert *tls.Certificate
}

// NewServingCerts issues the first certificate at once, so that a bad
// host list fails at start.
func NewServingCerts(ca *CA, hosts []string) (*ServingCerts, error) {
	s := &ServingCerts{ca: ca, hosts: hosts, now: time.Now}
	if _, err := s.GetCertificate(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (s *ServingCerts) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.cert != nil {
		leaf := s.cert.Leaf
		if now.Before(leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)) {
			return s.cert, nil
		}
	}
	cert, err := s.ca.Issue(s.hosts, now)
	if err != nil {
		return nil, err
	}
	s.cert = cert
	return cert, nil
}

// ServiceHosts are the names the API server checks when it calls the
// webhook through a Service: service.namespace.svc (and the FQDN).
func ServiceHosts(service, namespace string) []string {
	return []string{service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local"}
}
