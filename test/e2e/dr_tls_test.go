package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestDestinationRuleTLSOrigination: the client's sidecar originates TLS
// (cluster transport_socket UpstreamTlsContext) to an endpoint that serves
// TLS itself, a pod without a sidecar. Four services select that pod, each
// with its own DestinationRule tls:
//
//	secure            MUTUAL, CA, client certificate, sni and subjectAltNames:
//	                  the server sees the SNI and the client certificate
//	secure-auto       MUTUAL without sni or subjectAltNames: the Host becomes
//	                  the SNI and is checked against the certificate
//	                  (auto_sni, auto_san_validation)
//	secure-wrong-san  subjectAltNames the certificate does not have: 503
//	secure-system     SIMPLE without caCertificates: the system's roots, which
//	                  do not know the test CA: 503
func TestDestinationRuleTLSOrigination(t *testing.T) {
	const port = 8443
	m := harness.NewMesh(t, drNamespace)
	autoHost := "secure-auto." + drNamespace
	pki := harness.NewTestPKI(t, "sleep", "secure.example.com", autoHost)
	for _, name := range []string{"secure", "secure-auto", "secure-wrong-san", "secure-system"} {
		m.AddService(name, 80, port).Selector = map[string]string{"app": "secure"}
	}
	backend := m.AddPodWithoutSidecar("secure-0", map[string]string{"app": "secure"}, port)
	client := m.AddClient("sleep")
	m.WriteFile("secure-destinationrules.yaml", tlsRules(pki))
	harness.ServeTLS(t, net.JoinHostPort(backend.PodIP, strconv.Itoa(port)), &tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pki.Pool,
		MinVersion:   tls.VersionTLS12,
	}, http.HandlerFunc(tlsReport))
	m.Start()

	c := client.Client()
	a, err := harness.WaitForRoute(c, drURL("secure", "/"), nil, converge, answered200)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("secure: SNI %q, client certificate %q", a.Header.Get("X-TLS-SNI"), a.Header.Get("X-TLS-Client"))
	if sni, cn := a.Header.Get("X-TLS-SNI"), a.Header.Get("X-TLS-Client"); sni != "secure.example.com" || cn != pki.ClientName {
		t.Errorf("secure: the server saw SNI %q and client %q, want %q and %q", sni, cn, "secure.example.com", pki.ClientName)
	}

	a, err = harness.WaitForRoute(c, drURL("secure-auto", "/"), nil, converge, answered200)
	if err != nil {
		t.Fatal(err)
	}
	if sni := a.Header.Get("X-TLS-SNI"); sni != autoHost {
		t.Errorf("secure-auto: the server saw SNI %q, want the Host %q (auto_sni)", sni, autoHost)
	}

	for service, stat := range map[string]string{"secure-wrong-san": "fail_verify_san", "secure-system": "fail_verify_error"} {
		if a, err := harness.Get(c, drURL(service, "/"), ""); err != nil || a.Status != http.StatusServiceUnavailable {
			t.Errorf("%s: got %v (error %v), want 503: the server certificate must not be accepted", service, a, err)
		}
		waitStat(t, client.Admin(), "cluster."+drCluster(service)+".ssl."+stat, 1)
	}
}

// tlsRules are the DestinationRules of the four secure services.
func tlsRules(pki *harness.TestPKI) string {
	files := fmt.Sprintf(`
      caCertificates: %s
      clientCertificate: %s
      privateKey: %s`, pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile)
	return destinationRule("secure", `  trafficPolicy:
    tls:
      mode: MUTUAL`+files+`
      caCrl: `+pki.CRLFile+`
      sni: secure.example.com
      subjectAltNames:
      - secure.example.com
`) + "---\n" + destinationRule("secure-auto", `  trafficPolicy:
    tls:
      mode: MUTUAL`+files+`
`) + "---\n" + destinationRule("secure-wrong-san", `  trafficPolicy:
    tls:
      mode: MUTUAL`+files+`
      sni: secure.example.com
      subjectAltNames:
      - other.example.com
`) + "---\n" + destinationRule("secure-system", `  trafficPolicy:
    tls:
      mode: SIMPLE
      sni: secure.example.com
`)
}

// tlsReport answers with what the TLS handshake carried: the SNI and the
// client certificate's CommonName.
func tlsReport(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Served-By", "secure-0")
	w.Header().Set("X-TLS-SNI", r.TLS.ServerName)
	if len(r.TLS.PeerCertificates) > 0 {
		w.Header().Set("X-TLS-Client", r.TLS.PeerCertificates[0].Subject.CommonName)
	}
	fmt.Fprintln(w, "ok")
}

func answered200(a *harness.Answer) bool { return a.Status == http.StatusOK }
