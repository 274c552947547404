package e2e

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// shopGatewayMutual: HTTPS on 8443 that asks clients for a certificate
// signed by the CA in the Secret's ca.crt (Istio's mutual TLS ingress).
var shopGatewayMutual = shopGateway(`  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: MUTUAL, credentialName: shop-mtls}
`)

// TestGatewayMutualTLS: a client with a certificate from the Secret's CA
// is served; one without a certificate, or with one from another CA, is
// refused during the handshake.
func TestGatewayMutualTLS(t *testing.T) {
	pki := harness.NewTestPKI(t, "shop-client", shopHost)
	s := startGatewayShop(t, map[string]string{
		"gateway.yaml": shopGatewayMutual,
		"secret.yaml":  pki.SecretYAML("shop-mtls", ns),
		"rule.yaml":    destinationRuleFrontEnd,
		"vs.yaml":      shopAllTo("v1"),
	})
	client := func(maxVersion uint16, certs ...tls.Certificate) *http.Client {
		return s.gw.Client(&tls.Config{RootCAs: pki.Pool, ServerName: shopHost, Certificates: certs, MinVersion: tls.VersionTLS12, MaxVersion: maxVersion})
	}
	if _, err := harness.WaitForRoute(client(tls.VersionTLS13, pki.Client), shopHTTPSURL, nil, converge, servedByVersion("v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.Get(client(tls.VersionTLS12, pki.Client), shopHTTPSURL, ""); err != nil {
		t.Errorf("TLS 1.2 with the client certificate: %v", err)
	}
	stranger := harness.NewTestPKI(t, "shop-client", shopHost)
	// The TLS alerts Envoy sends, as Go's client reports them. TLS 1.2:
	// there the server checks the client certificate inside the handshake,
	// so the alert always ends it; in TLS 1.3 the client may already be
	// writing its request and see only a broken pipe.
	for _, tc := range []struct {
		name   string
		client *http.Client
		alert  string
	}{
		{"no client certificate", client(tls.VersionTLS12), "handshake failure"},
		{"a certificate from another CA", client(tls.VersionTLS12, stranger.Client), "unknown certificate authority"},
	} {
		a, err := harness.Get(tc.client, shopHTTPSURL, "")
		if err == nil || !strings.Contains(err.Error(), tc.alert) {
			t.Errorf("%s: answered %v, error %v; want the handshake refused with %q", tc.name, a, err, tc.alert)
		}
	}
	if a, err := harness.Get(client(tls.VersionTLS13), shopHTTPSURL, ""); err == nil {
		t.Errorf("TLS 1.3 without a client certificate: answered %v, want refused", a)
	}
}
