package authn

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// ServerCertTTL is how long the xDS server's own certificate lasts; it is
// replaced at half-life like a workload's.
const ServerCertTTL = 30 * 24 * time.Hour

// ServingCertificate is the control plane's TLS certificate for its xDS
// port, signed by the mesh CA (the root Envoy's bootstrap trusts) and
// renewed at half its life. Its GetCertificate fits tls.Config.
type ServingCertificate struct {
	ca       *CA
	dnsNames []string
	ips      []net.IP
	ttl      time.Duration

	mu   sync.Mutex
	cert *Certificate
	tls  *tls.Certificate
}

// NewServingCertificate issues the first certificate at once, so that a
// bad name list fails at start rather than at the first handshake.
func NewServingCertificate(ca *CA, dnsNames []string, ips []net.IP, ttl time.Duration) (*ServingCertificate, error) {
	s := &ServingCertificate{ca: ca, dnsNames: dnsNames, ips: ips, ttl: ttl}
	if _, err := s.current(); err != nil {
		return nil, err
	}
	return s, nil
}

// GetCertificate returns the current certificate, renewing it when due.
func (s *ServingCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.current()
}

func (s *ServingCertificate) current() (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert != nil && s.ca.now().Before(s.cert.RenewAt()) {
		return s.tls, nil
	}
	c, err := s.ca.IssueServer(s.dnsNames, s.ips, s.ttl)
	if err != nil {
		return nil, err
	}
	pair, err := c.TLS()
	if err != nil {
		return nil, err
	}
	s.cert, s.tls = c, &pair
	return s.tls, nil
}

// ServerTLS is the tls.Config of the xDS port: TLS 1.2 or later, this
// certificate, and no client certificate (proxies prove themselves with
// a token on the stream instead).
func (s *ServingCertificate) ServerTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.GetCertificate}
}
