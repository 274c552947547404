package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// The mutual TLS tests: what a sidecar accepts (PeerAuthentication) and
// what it sends (DestinationRule tls, auto-mTLS), on real Envoys, seen by
// the client (an answer, or a refused connection) and by the app (the
// x-forwarded-client-cert header that the server sidecar adds on mTLS).

const (
	sleepSPIFFE = "spiffe://cluster.local/ns/sock-shop/sa/sleep"
	xfcc        = "x-forwarded-client-cert"
)

// mtlsMesh: front-end (sidecar; ports 8080 and 9090, service ports 80 and
// 9090), catalogue (sidecar), legacy (no sidecar), and the client sleep,
// each with a service account of its own name.
func mtlsMesh(t *testing.T) *harness.Mesh {
	m := harness.NewMesh(t, ns)
	fe := m.AddService("front-end", 80, 8080)
	fe.Ports = append(fe.Ports, harness.ServicePort{Name: "http-metrics", Port: 9090, TargetPort: 9090})
	m.AddService("catalogue", 80, 8080)
	m.AddService("legacy", 80, 8080)
	frontEnd := m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	frontEnd.Ports = append(frontEnd.Ports, harness.ContainerPort{Name: "http-metrics", Port: 9090})
	m.AddPod("catalogue-v1", map[string]string{"app": "catalogue", "version": "v1"})
	m.AddPlainPod("legacy-v1", map[string]string{"app": "legacy", "version": "v1"})
	m.AddClient("sleep")
	for _, p := range m.Pods {
		p.ServiceAccount = p.Labels["app"]
	}
	return m
}

// meshGet is a request from sleep's app through its sidecar.
func meshGet(t *testing.T, m *harness.Mesh, rawURL string) *harness.Answer {
	t.Helper()
	a, err := harness.WaitForRoute(m.Pod("sleep").Client(), rawURL, nil, converge, nil)
	if err != nil {
		t.Fatalf("sleep -> %s: %v", rawURL, err)
	}
	return a
}

// wantCaller: the app saw the caller's identity (mTLS), or no XFCC at all
// (plaintext; a sidecar drops any such header a plaintext client sends).
func wantCaller(t *testing.T, what string, a *harness.Answer, spiffe string) {
	t.Helper()
	got := a.Echo.Headers[xfcc]
	t.Logf("%s: %s: %q", what, xfcc, got)
	switch {
	case spiffe == "" && got != "":
		t.Errorf("%s: the app saw %s %q, want plaintext (none)", what, xfcc, got)
	case spiffe != "" && !strings.Contains(got, "URI="+spiffe):
		t.Errorf("%s: the app saw %s %q, want the caller URI=%s", what, xfcc, got, spiffe)
	}
}

// plainURL is a pod's port, reached directly by a client without sidecar.
func plainURL(p *harness.Pod, port int) string {
	return fmt.Sprintf("http://%s:%d/", p.PodIP, port)
}

// waitPlaintext waits until a plaintext request to url is answered (ok)
// or refused before any HTTP answer (!ok), and returns the last answer.
func waitPlaintext(t *testing.T, url string, ok bool) {
	t.Helper()
	var last *harness.Answer
	err := harness.Eventually(converge, 100*time.Millisecond, func() error {
		a, err := harness.Get(harness.DirectClient(), url, "")
		last = a
		switch {
		case ok && err != nil:
			return err
		case ok && (a.Status != http.StatusOK || a.Echo == nil):
			return fmt.Errorf("answered %v", a)
		case !ok && err == nil:
			return fmt.Errorf("a plaintext client got an HTTP answer: %v", a)
		case !ok && strings.Contains(err.Error(), "connection refused"):
			// Nothing listens: that is not the sidecar refusing plaintext.
			return harness.Permanent(err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("plaintext GET %s (want served=%v): %v (last %v)", url, ok, err, last)
	}
}

// tlsHandshakes is how many TLS handshakes an Envoy stat prefix counted.
func tlsHandshakes(t *testing.T, admin, prefix string) uint64 {
	t.Helper()
	stats, err := harness.EnvoyStats(admin, `ssl\.handshake$`)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for k, v := range stats {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func TestMutualTLS(t *testing.T) {
	m := mtlsMesh(t)
	m.Start()
	frontEnd, catalogue, sleep := m.Pod("front-end-v1"), m.Pod("catalogue-v1"), m.Pod("sleep")

	t.Run("PERMISSIVE and auto-mTLS with no policy at all", func(t *testing.T) {
		wantCaller(t, "sleep -> front-end", meshGet(t, m, "http://front-end.sock-shop/"), sleepSPIFFE)
		if n := tlsHandshakes(t, sleep.Admin(), "cluster.outbound|80||front-end."); n == 0 {
			t.Error("sleep's sidecar made no TLS handshake to front-end")
		}
		if n := tlsHandshakes(t, frontEnd.Admin(), "listener."+frontEnd.PodIP+"_8080."); n == 0 {
			t.Error("front-end's sidecar accepted no TLS handshake")
		}
		// legacy has no sidecar: plaintext to it, and it still answers.
		wantCaller(t, "sleep -> legacy", meshGet(t, m, "http://legacy.sock-shop/"), "")
		if n := tlsHandshakes(t, sleep.Admin(), "cluster.outbound|80||legacy."); n != 0 {
			t.Errorf("sleep's sidecar made %d TLS handshakes to legacy, which has no sidecar", n)
		}
		// PERMISSIVE also serves a client outside the mesh.
		waitPlaintext(t, plainURL(frontEnd, 8080), true)
	})

	t.Run("namespace STRICT refuses plaintext", func(t *testing.T) {
		m.WriteFile("mtls.yaml", harness.JoinDocs(peerAuthentication("default", "", "STRICT", ""),
			istioMutual("front-end", ""), istioMutual("catalogue", "")))
		waitPlaintext(t, plainURL(frontEnd, 8080), false)
		waitPlaintext(t, plainURL(catalogue, 8080), false)
		wantCaller(t, "sleep -> front-end", meshGet(t, m, "http://front-end.sock-shop/"), sleepSPIFFE)
		wantCaller(t, "sleep -> catalogue", meshGet(t, m, "http://catalogue.sock-shop/"), sleepSPIFFE)
		wantCaller(t, "sleep -> legacy", meshGet(t, m, "http://legacy.sock-shop/"), "")
	})

	t.Run("workload DISABLE in a STRICT namespace", func(t *testing.T) {
		m.WriteFile("mtls.yaml", harness.JoinDocs(peerAuthentication("default", "", "STRICT", ""),
			peerAuthentication("catalogue", "catalogue", "DISABLE", ""),
			istioMutual("front-end", ""), tlsDisable("catalogue")))
		waitPlaintext(t, plainURL(catalogue, 8080), true)
		waitPlaintext(t, plainURL(frontEnd, 8080), false)
		wantCaller(t, "sleep -> catalogue", meshGet(t, m, "http://catalogue.sock-shop/"), "")
		wantCaller(t, "sleep -> front-end", meshGet(t, m, "http://front-end.sock-shop/"), sleepSPIFFE)
	})

	t.Run("portLevelMtls", func(t *testing.T) {
		m.WriteFile("mtls.yaml", harness.JoinDocs(peerAuthentication("default", "", "STRICT", ""),
			peerAuthentication("front-end", "front-end", "STRICT", "    9090: {mode: DISABLE}\n"),
			istioMutual("front-end", "    - port: {number: 9090}\n      tls: {mode: DISABLE}\n")))
		waitPlaintext(t, plainURL(frontEnd, 9090), true)
		waitPlaintext(t, plainURL(frontEnd, 8080), false)
		wantCaller(t, "sleep -> front-end:9090", meshGet(t, m, "http://front-end.sock-shop:9090/"), "")
		wantCaller(t, "sleep -> front-end:80", meshGet(t, m, "http://front-end.sock-shop/"), sleepSPIFFE)
	})

	t.Run("a tutorial's policy with a selector that matches nothing is reported", func(t *testing.T) {
		m.WriteFile("typo.yaml", peerAuthentication("typo", "front-ned", "DISABLE", ""))
		err := harness.Eventually(converge, 100*time.Millisecond, func() error {
			raw, _, err := m.Problems()
			if err != nil {
				return err
			}
			if !strings.Contains(string(raw), "spec.selector.matchLabels") || !strings.Contains(string(raw), "sock-shop/typo") {
				return fmt.Errorf("not reported yet: %s", raw)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// It changed nothing: front-end still refuses plaintext.
		waitPlaintext(t, plainURL(frontEnd, 8080), false)
	})
}

// peerAuthentication is a PeerAuthentication in sock-shop: for the pods
// app=app (the namespace when app is empty), with portLevelMtls entries
// (YAML lines under it) when ports is not empty.
func peerAuthentication(name, app, mode, ports string) string {
	y := fmt.Sprintf("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: %s\n  namespace: sock-shop\nspec:\n", name)
	if app != "" {
		y += fmt.Sprintf("  selector:\n    matchLabels:\n      app: %s\n", app)
	}
	y += fmt.Sprintf("  mtls:\n    mode: %s\n", mode)
	if ports != "" {
		y += "  portLevelMtls:\n" + ports
	}
	return y
}

// istioMutual is a DestinationRule with tls ISTIO_MUTUAL for a service,
// and portLevelSettings (YAML list items) when not empty.
func istioMutual(host, portLevel string) string {
	y := fmt.Sprintf("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: %s\n  namespace: sock-shop\nspec:\n  host: %s\n  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n", host, host)
	if portLevel != "" {
		y += "    portLevelSettings:\n" + portLevel
	}
	return y
}

func tlsDisable(host string) string {
	return fmt.Sprintf("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: %s\n  namespace: sock-shop\nspec:\n  host: %s\n  trafficPolicy:\n    tls:\n      mode: DISABLE\n", host, host)
}
