package authn

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// RootTTL is how long a self-signed root lasts: 10 years, as Istio's
// (SELF_SIGNED_CA_CERT_TTL).
const RootTTL = 10 * 365 * 24 * time.Hour

// Files are a CA's PEM files, in the layout of Istio's CA Secrets (both
// the self-signed istio-ca-secret and a user's plugged-in cacerts):
//
//	ca-cert.pem     the certificate that signs workload certificates
//	ca-key.pem      its private key
//	root-cert.pem   the roots workloads trust (ROOTCA); one or more certificates
//	cert-chain.pem  the certificates a workload presents after its own, up to the root
//
// For a self-signed CA, ca-cert.pem, root-cert.pem and cert-chain.pem are
// the same certificate.
type Files struct {
	CACert    []byte
	CAKey     []byte
	RootCert  []byte
	CertChain []byte
}

// The file (and Secret key) names of Files.
const (
	CACertFile    = "ca-cert.pem"
	CAKeyFile     = "ca-key.pem"
	RootCertFile  = "root-cert.pem"
	CertChainFile = "cert-chain.pem"
)

// CA signs workload and server certificates. It is safe for concurrent use.
type CA struct {
	trustDomain string
	cert        *x509.Certificate // signs
	key         crypto.Signer
	chainPEM    []byte // what follows a leaf in the chains it issues
	rootsPEM    []byte
	roots       *x509.CertPool
	now         func() time.Time
}

// NewSelfSignedFiles makes a new root: an ECDSA P-256 key and a
// self-signed CA certificate for the trust domain, valid RootTTL from now.
func NewSelfSignedFiles(trustDomain string, now time.Time) (Files, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Files{}, err
	}
	serial, err := randomSerial()
	if err != nil {
		return Files{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{trustDomain}, CommonName: "pilotlight root CA"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(RootTTL),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return Files{}, err
	}
	keyPEM, err := keyToPEM(key)
	if err != nil {
		return Files{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return Files{CACert: certPEM, CAKey: keyPEM, RootCert: certPEM, CertChain: certPEM}, nil
}

// NewCA loads a CA from its files and checks them: the key is the signing
// certificate's, the certificate may sign, is valid now, and chains up to
// one of the roots. now is the clock certificates are dated by (time.Now
// when nil).
func NewCA(f Files, trustDomain string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	if len(f.CertChain) == 0 {
		f.CertChain = f.CACert
	}
	if len(f.RootCert) == 0 {
		return nil, fmt.Errorf("%s: no root certificate", RootCertFile)
	}
	certs, err := parseCertificates(f.CACert)
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("%s: want one PEM certificate (%v)", CACertFile, err)
	}
	cert := certs[0]
	key, err := parseKey(f.CAKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s does not hold the key of %s", CAKeyFile, CACertFile)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s is not a CA certificate (basicConstraints CA and keyUsage certSign)", CACertFile)
	}
	if t := now(); t.Before(cert.NotBefore) || t.After(cert.NotAfter) {
		return nil, fmt.Errorf("%s is valid from %s to %s, not now", CACertFile, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	roots, err := parseCertificates(f.RootCert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RootCertFile, err)
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	chain, err := parseCertificates(f.CertChain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CertChainFile, err)
	}
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := cert.Verify(opts); err != nil {
		return nil, fmt.Errorf("%s does not chain up to %s: %w", CACertFile, RootCertFile, err)
	}
	return &CA{
		trustDomain: trustDomain,
		cert:        cert,
		key:         key,
		chainPEM:    bytes.TrimSpace(f.CertChain),
		rootsPEM:    f.RootCert,
		roots:       pool,
		now:         now,
	}, nil
}

// TrustDomain is the trust domain of the identities this CA signs.
func (ca *CA) TrustDomain() string { return ca.trustDomain }

// RootsPEM is the root bundle workloads trust: the ROOTCA secret, the
// istio-ca-root-cert ConfigMap, and the xDS client's root.
func (ca *CA) RootsPEM() []byte { return ca.rootsPEM }

// Roots is RootsPEM as a pool, for Go clients and tests.
func (ca *CA) Roots() *x509.CertPool { return ca.roots }

// clockSkew backdates certificates a little, so that a peer whose clock is
// slightly behind does not see a certificate from the future.
const clockSkew = time.Minute

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func keyToPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// parseKey reads a PKCS#8, SEC 1 (EC) or PKCS#1 (RSA) private key.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("cannot parse the %s block as a private key", block.Type)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}
