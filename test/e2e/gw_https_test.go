package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// shopGatewayHTTPS: HTTPS on 8443 with the certificate of Secret
// credentialName (served to the gateway over SDS), and HTTP on 8080 that
// redirects to https (tls.httpsRedirect).
func shopGatewayHTTPS(credentialName string) string {
	return shopGateway(fmt.Sprintf(`  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: [shop.example.com]
    tls: {httpsRedirect: true}
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: %s}
`, credentialName))
}

// TestGatewayHTTPSFromKubernetesSecret: the gateway terminates TLS with a
// certificate from a kubernetes.io/tls Secret, made here and trusted by the
// client alone; plain HTTP is redirected to https; and a new certificate in
// the Secret is served without restarting anything.
func TestGatewayHTTPSFromKubernetesSecret(t *testing.T) {
	cert := harness.SelfSignedCert(t, shopHost)
	s := startGatewayShop(t, map[string]string{
		"gateway.yaml": shopGatewayHTTPS("shop-cert"),
		"secret.yaml":  cert.SecretYAML("shop-cert", ns),
		"rule.yaml":    destinationRuleFrontEnd,
		"vs.yaml":      shopAllTo("v1"),
	})
	c := s.gw.Client(cert.ClientConfig(shopHost))
	a, err := harness.WaitForRoute(c, shopHTTPSURL+"hello", nil, converge, servedByVersion("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Echo.Path != "/hello" || a.Echo.Host != shopHost {
		t.Errorf("the app saw host %q path %q, want %s /hello", a.Echo.Host, a.Echo.Path, shopHost)
	}
	checkServedCert(t, s.gw, cert)

	t.Run("http redirects to https", func(t *testing.T) {
		a, err := harness.Get(s.gw.Client(nil), shopURL+"cart?x=1", "")
		if err != nil {
			t.Fatal(err)
		}
		if loc := a.Header.Get("Location"); a.Status != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://"+shopHost) || !strings.HasSuffix(loc, "/cart?x=1") {
			t.Errorf("GET %s: %d Location %q, want 301 to https://%s.../cart?x=1", shopURL, a.Status, loc, shopHost)
		}
	})

	t.Run("unknown SNI is refused", func(t *testing.T) {
		// The HTTPS chain matches server_names shop.example.com only.
		other := s.gw.Client(&tls.Config{RootCAs: cert.Pool, ServerName: "other.example.com"})
		if a, err := harness.Get(other, "https://other.example.com:8443/", ""); err == nil {
			t.Errorf("SNI other.example.com got an answer: %v", a)
		}
	})

	t.Run("certificate rotation", func(t *testing.T) {
		next := harness.SelfSignedCert(t, shopHost)
		s.WriteFile("secret.yaml", next.SecretYAML("shop-cert", ns))
		c := s.gw.Client(next.ClientConfig(shopHost))
		if _, err := harness.WaitForRoute(c, shopHTTPSURL, nil, converge, nil); err != nil {
			t.Fatalf("the new certificate is not served: %v", err)
		}
		checkServedCert(t, s.gw, next)
	})
}

// checkServedCert: the gateway presents exactly this certificate.
func checkServedCert(t *testing.T, gw *harness.Gateway, cert *harness.Cert) {
	t.Helper()
	cfg := cert.ClientConfig(shopHost)
	cfg.NextProtos = []string{"h2", "http/1.1"}
	conn, err := tls.Dial("tcp", gw.Addr(gwHTTPSPort), cfg)
	if err != nil {
		t.Fatalf("TLS to the gateway: %v", err)
	}
	defer conn.Close()
	peer := conn.ConnectionState().PeerCertificates
	if len(peer) == 0 || !bytes.Equal(peer[0].Raw, cert.Leaf.Raw) {
		t.Errorf("the gateway presented another certificate")
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("ALPN %q, want h2 (the gateway offers h2 and http/1.1)", p)
	}
}

// TestGatewayMissingSecretIsAProblem: a Gateway naming a Secret that does
// not exist is reported at /debug/problems (object and field), its HTTPS
// server is left out (no listener Envoy would reject or wait on forever),
// the HTTP server is served; once the Secret is written, HTTPS works.
func TestGatewayMissingSecretIsAProblem(t *testing.T) {
	s := startGatewayShop(t, map[string]string{
		"gateway.yaml": shopGatewayHTTPS("late-cert"),
		"rule.yaml":    destinationRuleFrontEnd,
		// Bound to both servers; no redirect for this test's HTTP checks.
		"vs.yaml": shopAllTo("v1"),
	})
	raw := waitProblemMentions(t, s.Mesh, "shop-gateway", "spec.servers[1].tls.credentialName", "late-cert")
	t.Logf("/debug/problems: %s", raw)
	// HTTP still answers (a redirect: the Gateway asks for one).
	if _, err := harness.WaitForRoute(s.gw.Client(nil), shopURL, nil, converge, func(a *harness.Answer) bool {
		return a.Status == http.StatusMovedPermanently
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.DialStream(s.gw.Addr(gwHTTPSPort), nil); err == nil {
		t.Errorf("something listens on %s without its certificate", s.gw.Addr(gwHTTPSPort))
	}

	cert := harness.SelfSignedCert(t, shopHost)
	s.WriteFile("secret.yaml", cert.SecretYAML("late-cert", ns))
	if _, err := harness.WaitForRoute(s.gw.Client(cert.ClientConfig(shopHost)), shopHTTPSURL, nil, converge, servedByVersion("v1")); err != nil {
		t.Fatal(err)
	}
	if err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		raw, _, err := s.Problems()
		if err == nil && bytes.Contains(raw, []byte("late-cert")) {
			err = fmt.Errorf("still reported: %s", raw)
		}
		return err
	}); err != nil {
		t.Error(err)
	}
}

// waitProblemMentions waits until /debug/problems mentions every string.
func waitProblemMentions(t *testing.T, m *harness.Mesh, want ...string) []byte {
	t.Helper()
	var raw []byte
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		var err error
		if raw, _, err = m.Problems(); err != nil {
			return err
		}
		for _, w := range want {
			if !bytes.Contains(raw, []byte(w)) {
				return fmt.Errorf("/debug/problems does not mention %q: %s", w, raw)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
