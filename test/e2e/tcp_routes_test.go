package e2e

import (
	"net"
	"strconv"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TCP and TLS routes. In local mode an app reaches a TCP service at its own
// localhost:servicePort, where its sidecar listens (tcp_proxy), and TLS
// services on one port are told apart by SNI; the TLS is the app's own,
// passed through untouched.

const (
	tcpEchoPort = 9000
	tlsEchoPort = 9443
	tlsEchoFQDN = "tls-echo.sock-shop.svc.cluster.local"
)

// streamShop is tcp-echo and tls-echo (v1 and v2 each, stream echo apps
// behind sidecars) and the client pod sleep.
type streamShop struct {
	*harness.Mesh
	client *harness.Pod
	// appCert is the tls-echo apps' certificate; clients trust only it.
	appCert *harness.Cert
}

const streamRules = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: tcp-echo
  namespace: sock-shop
spec:
  host: tcp-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: tls-echo
  namespace: sock-shop
spec:
  host: tls-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
# tcp route on port 9000, split 80/20: tcp_proxy weighted_clusters.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tcp-echo
  namespace: sock-shop
spec:
  hosts: [tcp-echo]
  tcp:
  - match:
    - port: 9000
    route:
    - destination: {host: tcp-echo, subset: v1}
      weight: 80
    - destination: {host: tcp-echo, subset: v2}
      weight: 20
---
# tls route: SNI tls-echo.sock-shop.svc.cluster.local to v2. The service's
# other names keep going to the whole service.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tls-echo
  namespace: sock-shop
spec:
  hosts: [tls-echo]
  tls:
  - match:
    - sniHosts: [tls-echo.sock-shop.svc.cluster.local]
    route:
    - destination: {host: tls-echo, subset: v2}
`

// newStreamShop builds the mesh; extra files are added to its folder.
func newStreamShop(t *testing.T, files map[string]string) *streamShop {
	t.Helper()
	m := harness.NewMesh(t, ns)
	s := &streamShop{Mesh: m, appCert: harness.SelfSignedCert(t, tlsEchoFQDN, "tls-echo.sock-shop", "v1.tls.example.com", "v2.tls.example.com")}
	m.Services = append(m.Services,
		&harness.Service{Name: "tcp-echo", Namespace: ns, Selector: map[string]string{"app": "tcp-echo"},
			Ports: []harness.ServicePort{{Name: "tcp", Port: tcpEchoPort, TargetPort: tcpEchoPort}}},
		&harness.Service{Name: "tls-echo", Namespace: ns, Selector: map[string]string{"app": "tls-echo"},
			Ports: []harness.ServicePort{{Name: "tls", Port: tlsEchoPort, TargetPort: tlsEchoPort}}})
	for _, app := range []struct {
		name string
		port int
	}{{"tcp-echo", tcpEchoPort}, {"tls-echo", tlsEchoPort}} {
		for _, v := range []string{"v1", "v2"} {
			p := m.AddPod(app.name+"-"+v, map[string]string{"app": app.name, "version": v})
			// The stream apps are started by start, not by the mesh.
			p.NoApp, p.Ports = true, []harness.ContainerPort{{Name: "tcp", Port: app.port}}
		}
	}
	s.client = m.AddClient("sleep")
	files["stream-rules.yaml"] = streamRules
	for _, name := range sortedNames(files) {
		m.WriteFile(name, files[name])
	}
	return s
}

// start starts the mesh, then the stream apps.
func (s *streamShop) start(t *testing.T) {
	s.Start()
	certFile, keyFile := s.appCert.WriteFiles(t, "tls-echo")
	for _, p := range s.Pods {
		switch p.Labels["app"] {
		case "tcp-echo":
			harness.StartStreamApp(s.Mesh, p, tcpEchoPort, "tcp", "", "")
		case "tls-echo":
			harness.StartStreamApp(s.Mesh, p, tlsEchoPort, "tls", certFile, keyFile)
		}
	}
}

// TestSidecarTCPAndTLSRoutes: through the client's sidecar, a tcp route
// splits connections 80/20, and a tls route picks the subset by SNI.
func TestSidecarTCPAndTLSRoutes(t *testing.T) {
	s := newStreamShop(t, map[string]string{})
	s.start(t)
	tcpAddr := net.JoinHostPort(s.client.Local, strconv.Itoa(tcpEchoPort))
	tlsAddr := net.JoinHostPort(s.client.Local, strconv.Itoa(tlsEchoPort))
	if _, err := harness.WaitForStream(tcpAddr, nil, converge, nil); err != nil {
		t.Fatal(err)
	}

	t.Run("tcp weighted 80/20", func(t *testing.T) {
		// Each connection picks a subset at random: the count for v2 out of
		// n is binomial(n, 0.2), its share's standard deviation is
		// sqrt(0.2*0.8/n) = 0.0126 for n = 1000; five deviations (±0.063)
		// are exceeded by chance with probability about 6e-7.
		const n = 1000
		count, failures := countStreams(tcpAddr, n, 8)
		checkCanary(t, "connections", count, failures, n)
	})

	t.Run("tls passthrough by SNI", func(t *testing.T) {
		fqdn := s.appCert.ClientConfig(tlsEchoFQDN)
		if _, err := harness.WaitForStream(tlsAddr, fqdn, converge, nil); err != nil {
			t.Fatal(err)
		}
		// The tls route's SNI: always v2; the app terminated the TLS (the
		// client verified the app's own certificate) and saw the SNI.
		for i := 0; i < 20; i++ {
			h, err := harness.DialStream(tlsAddr, fqdn)
			if err != nil {
				t.Fatal(err)
			}
			if h.Version != "v2" || h.Service != "tls-echo" || h.SNI != tlsEchoFQDN {
				t.Fatalf("SNI %s reached %+v, want tls-echo v2 seeing that SNI", tlsEchoFQDN, *h)
			}
		}
		// Another name of the service: no tls route, the whole service.
		seen := map[string]int{}
		for i := 0; i < 20; i++ {
			h, err := harness.DialStream(tlsAddr, s.appCert.ClientConfig("tls-echo.sock-shop"))
			if err != nil {
				t.Fatal(err)
			}
			seen[h.Version]++
		}
		if seen["v1"] == 0 || seen["v2"] == 0 {
			t.Errorf("SNI tls-echo.sock-shop reached %v, want both subsets of the service", seen)
		}
		// A name no chain matches: the sidecar closes the connection.
		if h, err := harness.DialStream(tlsAddr, s.appCert.ClientConfig("v1.tls.example.com")); err == nil {
			t.Errorf("SNI v1.tls.example.com reached %+v through the sidecar, want no match", *h)
		}
	})
}

// countStreams opens n connections (workers at a time) and counts the
// greetings by version.
func countStreams(addr string, n, workers int) (map[string]int, []string) {
	return harness.CountVersions(n, workers, func() (string, error) {
		h, err := harness.DialStream(addr, nil)
		if err != nil {
			return "", err
		}
		return h.Version, nil
	})
}
