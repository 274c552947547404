package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Gateway is an ingress gateway pod in local mode: no app, and a standalone
// Envoy bootstrapped by `pilotlight bootstrap --gateway` (an Istio "router"
// proxy). Pilotlight binds its listeners on PodIP at the Gateway servers'
// ports; its admin is on Local:15000.
//
//	gw := harness.AddGateway(m, "ingressgateway", map[string]string{"istio": "ingressgateway"}, 8080, 8443)
//	m.WriteFile("gateway.yaml", gatewayYAML)
//	m.Start()
//	gw.Start()
//	a, err := harness.WaitForRoute(gw.Client(nil), "http://shop.example.com:8080/", nil, 20*time.Second, nil)
type Gateway struct {
	Name      string
	Namespace string
	Labels    map[string]string
	// PodIP and Local are allocated by AddGateway, with Ports free on PodIP.
	PodIP string
	Local string
	Ports []int

	Envoy         *Process
	BootstrapPath string

	mesh *Mesh
}

// AddGateway adds a gateway pod to the mesh's namespace and writes its Pod
// document (gateway-<name>.yaml) into the config folder. ports are the
// Gateway server ports it will listen on, checked free on its pod IP.
func AddGateway(m *Mesh, name string, labels map[string]string, ports ...int) *Gateway {
	m.T.Helper()
	return AddGatewayIn(m, m.Namespace, name, labels, ports...)
}

// AddGatewayIn is AddGateway for a gateway pod in namespace ns (Istio's
// ingress gateway lives in istio-system).
func AddGatewayIn(m *Mesh, ns, name string, labels map[string]string, ports ...int) *Gateway {
	m.T.Helper()
	a := AllocPod(m.T, ports...)
	gw := &Gateway{Name: name, Namespace: ns, Labels: labels, PodIP: a.PodIP, Local: a.Local, Ports: ports, mesh: m}
	file := "gateway-" + sanitize(name) + ".yaml"
	if ns != m.Namespace {
		file = "gateway-" + sanitize(ns+"-"+name) + ".yaml"
		m.AddNamespace(ns)
	}
	m.WriteFile(file, gw.pod().YAML())
	return gw
}

// pod is the gateway as a Pod document: no ports, no app.
func (g *Gateway) pod() *Pod {
	return &Pod{Name: g.Name, Namespace: g.Namespace, Labels: g.Labels, NoApp: true, PodIP: g.PodIP, Local: g.Local}
}

// Key is "namespace/name".
func (g *Gateway) Key() string { return g.Namespace + "/" + g.Name }

// Admin is the gateway Envoy's admin address, Local:15000.
func (g *Gateway) Admin() string { return net.JoinHostPort(g.Local, strconv.Itoa(AdminPort)) }

// Addr is PodIP:port, where the gateway listens for a server port.
func (g *Gateway) Addr(port int) string { return net.JoinHostPort(g.PodIP, strconv.Itoa(port)) }

// NodeID is the Istio-style node id of a gateway: router~ip~pod.ns~ns.svc.cluster.local.
func (g *Gateway) NodeID() string {
	return fmt.Sprintf("router~%s~%s.%s~%s.svc.cluster.local", g.PodIP, g.Name, g.Namespace, g.Namespace)
}

// Start bootstraps and starts the gateway's Envoy (after Mesh.Start, which
// starts pilotlight), waits until it is LIVE and has accepted clusters and
// listeners, and registers a cleanup check that it rejected nothing.
func (g *Gateway) Start() {
	m := g.mesh
	t := m.T
	t.Helper()
	if m.Pilotlight == nil {
		t.Fatalf("harness: start the mesh before its gateway %s", g.Key())
	}
	g.BootstrapPath = g.bootstrap()
	logLevel := os.Getenv("E2E_ENVOY_LOG_LEVEL")
	if logLevel == "" {
		logLevel = "warn"
	}
	args := append([]string{"-c", g.BootstrapPath, "--disable-hot-restart", "--log-level", logLevel}, m.EnvoyArgs...)
	g.Envoy = Start(t, Proc{Label: "envoy-gateway-" + g.Name, Path: m.EnvoyBin, Args: args})
	// Registered after the Envoy's own cleanup, so it runs first.
	m.addCleanupCheck(g.checkNoNacks)
	if err := WaitEnvoyAccepted(g.Envoy, g.Admin(), envoyStartTimeout); err != nil {
		t.Fatalf("harness: gateway %s (node %s): %v", g.Key(), g.NodeID(), err)
	}
}

// bootstrap runs `pilotlight bootstrap --gateway` and writes its output.
func (g *Gateway) bootstrap() string {
	m := g.mesh
	t := m.T
	t.Helper()
	args := []string{"bootstrap", "--gateway", "--pod", g.Name, "--namespace", g.Namespace, "--pod-ip", g.PodIP,
		"--local-address", g.Local, "--xds-addr", m.XDSAddr, "--admin-port", strconv.Itoa(AdminPort), "--state-dir", m.StateDir}
	args = append(args, m.BootstrapArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, m.Bins.Pilotlight, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("harness: pilotlight %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	path := filepath.Join(LogDir(t), "bootstrap-gateway-"+sanitize(g.Namespace+"-"+g.Name)+".yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return path
}

// checkNoNacks fails the test if the gateway refused an update.
func (g *Gateway) checkNoNacks() {
	t := g.mesh.T
	if exited, _ := g.Envoy.Exited(); exited {
		return // reported by the process's own cleanup
	}
	if err := g.mesh.WaitSettled(3 * time.Second); err != nil {
		t.Logf("harness: before the gateway's NACK check, pilotlight did not look settled: %v", err)
	}
	c, err := NackCounters(g.Admin())
	if err != nil {
		t.Errorf("harness: NACK check of gateway %s: %v", g.Key(), err)
		return
	}
	if s := FormatNonZero(c); s != "" {
		t.Errorf("harness: gateway %s rejected config from pilotlight: %s", g.Key(), s)
		if b, err := GetBody(g.mesh.HTTPURL("/debug/proxies")); err == nil {
			t.Logf("pilotlight /debug/proxies:\n%s", b)
		}
	}
}

// Client returns an HTTP client that sends every request to the gateway:
// it dials PodIP at the URL's port whatever the URL's host, so that
// "http://shop.example.com:8080/" carries Host shop.example.com (and, for
// https, SNI shop.example.com) as from a client that resolved the name to
// the gateway. tlsConfig is for https URLs (its ServerName defaults to
// the URL's host). No keep-alive; redirects are returned, not followed.
func (g *Gateway) Client(tlsConfig *tls.Config) *http.Client {
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:              nil,
			DisableKeepAlives:  true,
			DisableCompression: true,
			TLSClientConfig:    tlsConfig,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort(g.PodIP, port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
