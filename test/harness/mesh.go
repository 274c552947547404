package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Deadlines of Mesh.Start's waits. Envoy goes LIVE at the latest 15 s
// (its default initial_fetch_timeout) after it connects, so they are larger.
const (
	controlPlaneStartTimeout = 60 * time.Second
	appStartTimeout          = 20 * time.Second
	envoyStartTimeout        = 45 * time.Second
)

// Pod is a pod of the mesh in local mode: an echo app per container port on
// Local:<port> (unless NoApp) and a sidecar Envoy bootstrapped by
// `pilotlight bootstrap`.
type Pod struct {
	Name      string
	Namespace string
	Labels    map[string]string
	// Annotations besides the local-address one, which is always set.
	Annotations map[string]string
	// Ports the app listens on; defaults to [{http 8080}], none for a client.
	Ports []ContainerPort
	// NoApp: a client pod, with a sidecar and no app.
	NoApp bool
	// NoSidecar: a pod outside the mesh (sidecar.istio.io/inject: "false"):
	// its app listens on PodIP itself and no Envoy runs for it.
	NoSidecar bool
	// ServiceAccount is spec.serviceAccountName (default "default"): the
	// pod's identity, spiffe://cluster.local/ns/NS/sa/SA.
	ServiceAccount string

	// PodIP and Local are allocated by AddPod.
	PodIP string
	Local string

	// Set by Mesh.Start.
	Apps          []*Process
	Envoy         *Process
	BootstrapPath string
}

// Key is "namespace/name".
func (p *Pod) Key() string { return p.Namespace + "/" + p.Name }

// Admin is the sidecar's admin address, Local:15000.
func (p *Pod) Admin() string { return net.JoinHostPort(p.Local, strconv.Itoa(AdminPort)) }

// ProxyAddr is the sidecar's outbound HTTP proxy, Local:15001.
func (p *Pod) ProxyAddr() string { return net.JoinHostPort(p.Local, strconv.Itoa(OutboundPort)) }

// Client returns a ProxyClient through this pod's sidecar.
func (p *Pod) Client() *http.Client { return ProxyClient(p.Local) }

// NodeID is the Istio-style Envoy node id of the pod's sidecar.
func (p *Pod) NodeID() string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", p.PodIP, p.Name, p.Namespace, p.Namespace)
}

// Mesh is one test's mesh: a fresh config folder, `pilotlight serve` on it,
// and the pods' apps and sidecars. Build it with NewMesh, AddService, AddPod,
// AddClient and WriteFile, then Start it. Everything stops at the test's end.
type Mesh struct {
	T         testing.TB
	Namespace string
	// Dir is the config folder pilotlight serves.
	Dir string

	Services []*Service
	Pods     []*Pod

	// Debounce is passed as --debounce when not zero.
	Debounce time.Duration
	// ServeArgs are added to `pilotlight serve`.
	ServeArgs []string
	// EnvoyArgs are added to every envoy command line.
	EnvoyArgs []string
	// BootstrapArgs are added to every `pilotlight bootstrap` (e.g. --delta).
	BootstrapArgs []string
	// DNS: pilotlight answers the mesh's names over DNS (serve --dns-addr,
	// on DNSAddr) and every Envoy resolves with it (bootstrap --dns-addr),
	// for STRICT_DNS clusters naming Services.
	DNS     bool
	DNSAddr string

	// StateDir is pilotlight's --state-dir: the mesh CA, the proxy token key
	// and the tokens `pilotlight bootstrap` mints (StateDir(t)).
	StateDir string

	// Set by Start.
	Bins       Binaries
	EnvoyBin   string
	XDSAddr    string
	HTTPAddr   string
	Pilotlight *Process

	stage    string
	started  bool
	restarts int
	checks   []func() // cleanup checks, see addCleanupCheck
	// namespaces of objects written by helpers (gateways, the rate-limit
	// service), for namespaces.yaml.
	namespaces []string
	nackCheck  bool
	writeMu    sync.Mutex
}

// NewMesh returns an empty mesh whose objects default to namespace ns.
func NewMesh(t testing.TB, ns string) *Mesh {
	t.Helper()
	base := LogDir(t)
	m := &Mesh{T: t, Namespace: ns, Dir: filepath.Join(base, "config"), stage: filepath.Join(base, ".stage"), nackCheck: true, StateDir: StateDir(t)}
	for _, d := range []string{m.Dir, m.stage} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("harness: %v", err)
		}
	}
	return m
}

// AddService adds a Service name in the mesh's namespace with one port
// named http: port -> targetPort, selecting app=name.
func (m *Mesh) AddService(name string, port, targetPort int) *Service {
	s := &Service{
		Name: name, Namespace: m.Namespace,
		Selector: map[string]string{"app": name},
		Ports:    []ServicePort{{Name: "http", Port: port, TargetPort: targetPort}},
	}
	m.Services = append(m.Services, s)
	return s
}

// AddPod adds an app pod with labels and one container port http/8080
// (change Ports before Start for others), and allocates its addresses.
func (m *Mesh) AddPod(name string, labels map[string]string) *Pod {
	m.T.Helper()
	p := &Pod{Name: name, Namespace: m.Namespace, Labels: labels, Ports: []ContainerPort{{Name: "http", Port: 8080}}}
	a := AllocPod(m.T, 8080)
	p.PodIP, p.Local = a.PodIP, a.Local
	m.Pods = append(m.Pods, p)
	return p
}

// AddPlainPod adds an app pod without a sidecar (AddPod otherwise): the
// mesh sends it plaintext, and its app answers on PodIP:8080 directly.
func (m *Mesh) AddPlainPod(name string, labels map[string]string) *Pod {
	p := m.AddPod(name, labels)
	p.NoSidecar = true
	return p
}

// AppAddr is where the pod's app listens on a port: its local address, or
// its pod IP for a pod without sidecar.
func (p *Pod) AppAddr(port int) string {
	host := p.Local
	if p.NoSidecar {
		host = p.PodIP
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// AddClient adds a client pod (label app=name) with a sidecar and no app:
// tests send requests through its outbound proxy.
func (m *Mesh) AddClient(name string) *Pod {
	m.T.Helper()
	p := &Pod{Name: name, Namespace: m.Namespace, Labels: map[string]string{"app": name}, NoApp: true}
	a := AllocPod(m.T)
	p.PodIP, p.Local = a.PodIP, a.Local
	m.Pods = append(m.Pods, p)
	return p
}

// Pod returns the pod called name (in any namespace), failing the test if
// there is none.
func (m *Mesh) Pod(name string) *Pod {
	m.T.Helper()
	for _, p := range m.Pods {
		if p.Name == name {
			return p
		}
	}
	m.T.Fatalf("harness: no pod %q in the mesh", name)
	return nil
}

// WriteFile writes a file of the config folder atomically: the content goes
// to a file outside the folder, which is then renamed into it, so
// pilotlight never reads half a file. It returns the time the rename
// finished. name may contain sub-folders.
func (m *Mesh) WriteFile(name, content string) time.Time {
	m.T.Helper()
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	dst := filepath.Join(m.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		m.T.Fatalf("harness: %v", err)
	}
	f, err := os.CreateTemp(m.stage, "write-*")
	if err != nil {
		m.T.Fatalf("harness: %v", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		m.T.Fatalf("harness: %v", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		m.T.Fatalf("harness: %v", err)
	}
	if err := f.Close(); err != nil {
		m.T.Fatalf("harness: %v", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		m.T.Fatalf("harness: %v", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		m.T.Fatalf("harness: %v", err)
	}
	return time.Now()
}

// RemoveFile deletes a file of the config folder.
func (m *Mesh) RemoveFile(name string) time.Time {
	m.T.Helper()
	if err := os.Remove(filepath.Join(m.Dir, filepath.FromSlash(name))); err != nil {
		m.T.Fatalf("harness: %v", err)
	}
	return time.Now()
}

// AddNamespace declares a namespace in namespaces.yaml (once), for objects
// a test writes there itself. Call before Start.
func (m *Mesh) AddNamespace(ns string) { m.namespaces = append(m.namespaces, ns) }

// SkipNackCheck turns off the cleanup check that no Envoy NACKed, for a
// test that provokes NACKs on purpose.
func (m *Mesh) SkipNackCheck() { m.nackCheck = false }

// BaseConfig is the YAML of the mesh's namespaces, services and pods.
func (m *Mesh) BaseConfig() (namespaces, services, pods string) {
	seen := map[string]bool{}
	var nsDocs, svcDocs, podDocs []string
	addNS := func(ns string) {
		if !seen[ns] {
			seen[ns] = true
			nsDocs = append(nsDocs, NamespaceYAML(ns))
		}
	}
	addNS(m.Namespace)
	for _, ns := range m.namespaces {
		addNS(ns)
	}
	for _, s := range m.Services {
		addNS(s.Namespace)
		svcDocs = append(svcDocs, s.YAML())
	}
	for _, p := range m.Pods {
		addNS(p.Namespace)
		podDocs = append(podDocs, p.YAML())
	}
	return JoinDocs(nsDocs...), JoinDocs(svcDocs...), JoinDocs(podDocs...)
}

// Start writes namespaces.yaml, services.yaml and pods.yaml into the config
// folder (next to what WriteFile put there), starts `pilotlight serve` on
// free 127.0.0.1 ports and waits for /healthz and /readyz, starts the apps
// and waits until they answer, then starts one sidecar per pod and waits
// until each is LIVE and has accepted clusters and listeners from
// pilotlight. At cleanup, before anything is stopped, it checks that no
// Envoy rejected an update (see SkipNackCheck).
func (m *Mesh) Start() {
	t := m.T
	t.Helper()
	if m.started {
		t.Fatalf("harness: mesh started twice")
	}
	m.started = true
	m.Bins = BuildBinaries(t)
	m.EnvoyBin = MustEnvoy(t)

	ns, svcs, pods := m.BaseConfig()
	m.WriteFile("namespaces.yaml", ns)
	if svcs != "" {
		m.WriteFile("services.yaml", svcs)
	}
	if pods != "" {
		m.WriteFile("pods.yaml", pods)
	}

	// The control plane.
	addrs := FreeAddrs(t, "127.0.0.1", 2)
	m.XDSAddr, m.HTTPAddr = addrs[0], addrs[1]
	if m.DNS {
		m.DNSAddr = freeUDPAddr(t, "127.0.0.1")
		m.ServeArgs = append(m.ServeArgs, "--dns-addr", m.DNSAddr)
		m.BootstrapArgs = append(m.BootstrapArgs, "--dns-addr", m.DNSAddr)
	}
	m.startPilotlight("pilotlight")

	// The apps.
	type wait struct {
		p   *Process
		url string
	}
	var appWaits []wait
	for _, p := range m.Pods {
		if p.NoApp {
			continue
		}
		for _, cp := range p.Ports {
			addr := p.AppAddr(cp.Port)
			proc := Start(t, Proc{
				Label: fmt.Sprintf("echo-%s-%d", p.Name, cp.Port),
				Path:  m.Bins.Echo,
				Args:  []string{"--listen", addr, "--pod", p.Name, "--version", p.Labels["version"], "--service", p.Labels["app"]},
			})
			p.Apps = append(p.Apps, proc)
			appWaits = append(appWaits, wait{proc, "http://" + addr + "/healthz"})
		}
	}
	for _, w := range appWaits {
		if err := m.waitHTTP(w.p, w.url, appStartTimeout); err != nil {
			t.Fatalf("harness: %s: %v", w.p.Label, err)
		}
	}

	// The sidecars: start them all, then wait for each.
	logLevel := os.Getenv("E2E_ENVOY_LOG_LEVEL")
	if logLevel == "" {
		logLevel = "warn"
	}
	for _, p := range m.Pods {
		if p.NoSidecar {
			continue
		}
		p.BootstrapPath = m.bootstrap(p)
		envoyArgs := append([]string{"-c", p.BootstrapPath, "--disable-hot-restart", "--log-level", logLevel}, m.EnvoyArgs...)
		p.Envoy = Start(t, Proc{Label: "envoy-" + p.Name, Path: m.EnvoyBin, Args: envoyArgs})
	}
	if m.nackCheck {
		// Registered after the sidecars' own cleanups, so it runs first,
		// while they still answer.
		m.addCleanupCheck(m.checkNoNacks)
	}
	for _, p := range m.Pods {
		if p.NoSidecar {
			continue
		}
		if err := WaitEnvoyAccepted(p.Envoy, p.Admin(), envoyStartTimeout); err != nil {
			t.Fatalf("harness: sidecar of %s (node %s): %v", p.Key(), p.NodeID(), err)
		}
	}
}

// startPilotlight starts `pilotlight serve` on the mesh's folder and
// addresses and waits until it is ready.
func (m *Mesh) startPilotlight(label string) {
	t := m.T
	t.Helper()
	args := []string{"serve", "--config-dir", m.Dir, "--xds-addr", m.XDSAddr, "--http-addr", m.HTTPAddr, "--state-dir", m.StateDir}
	if m.Debounce != 0 {
		args = append(args, "--debounce", m.Debounce.String())
	}
	args = append(args, m.ServeArgs...)
	m.Pilotlight = Start(t, Proc{Label: label, Path: m.Bins.Pilotlight, Args: args})
	for _, path := range []string{"/healthz", "/readyz"} {
		if err := m.waitHTTP(m.Pilotlight, m.HTTPURL(path), controlPlaneStartTimeout); err != nil {
			t.Fatalf("harness: pilotlight %s: %v", path, err)
		}
	}
}

// StopPilotlight stops the control plane; the proxies keep their config.
func (m *Mesh) StopPilotlight() {
	m.T.Helper()
	if err := m.Pilotlight.Stop(); err != nil {
		m.T.Logf("harness: stopping pilotlight: %v", err)
	}
}

// StartPilotlightAgain starts a new `pilotlight serve` on the same folder
// and addresses, after StopPilotlight; the proxies reconnect by themselves.
// The cleanup checks run again before the new process is stopped.
func (m *Mesh) StartPilotlightAgain() {
	m.T.Helper()
	m.restarts++
	m.startPilotlight(fmt.Sprintf("pilotlight-%d", m.restarts+1))
	for _, check := range m.checks {
		m.T.Cleanup(check)
	}
}

// addCleanupCheck registers a check to run at cleanup while pilotlight
// and the proxies still run (a NACK check); it runs once, at the first of
// its registrations to come (StartPilotlightAgain registers it again).
func (m *Mesh) addCleanupCheck(check func()) {
	once := sync.OnceFunc(check)
	m.checks = append(m.checks, once)
	m.T.Cleanup(once)
}

// waitHTTP is WaitHTTP that gives up at once when proc has exited.
func (m *Mesh) waitHTTP(proc *Process, url string, timeout time.Duration) error {
	return Eventually(timeout, 50*time.Millisecond, func() error {
		if err := proc.CheckRunning(); err != nil {
			return Permanent(err)
		}
		return checkHTTP(url)
	})
}

// bootstrap runs `pilotlight bootstrap` for p and writes its output to a file.
func (m *Mesh) bootstrap(p *Pod) string {
	t := m.T
	t.Helper()
	args := []string{"bootstrap", "--pod", p.Name, "--namespace", p.Namespace, "--pod-ip", p.PodIP,
		"--local-address", p.Local, "--xds-addr", m.XDSAddr, "--admin-port", strconv.Itoa(AdminPort), "--state-dir", m.StateDir}
	args = append(args, m.BootstrapArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.Bins.Pilotlight, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("harness: pilotlight %s: %v (%d bytes on stdout)\nstderr:\n%s", strings.Join(args, " "), err, len(out), stderr.String())
	}
	path := filepath.Join(LogDir(t), "bootstrap-"+sanitize(p.Namespace+"-"+p.Name)+".yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return path
}

// StateDir is the state folder of a test's pilotlight (--state-dir of both
// `serve` and `bootstrap`): pilotlight creates it, with the mesh CA and the
// key that signs proxy tokens, on its first start.
func StateDir(t testing.TB) string { return filepath.Join(LogDir(t), "state") }

// HTTPURL is the URL of path on pilotlight's HTTP address.
func (m *Mesh) HTTPURL(path string) string { return "http://" + m.HTTPAddr + path }

// TypeStatus is one xDS type of a proxy in /debug/proxies.
type TypeStatus struct {
	Sent   string `json:"sent"`
	Acked  string `json:"acked"`
	Nacked string `json:"nacked"`
	Error  string `json:"error"`
}

// ProxyStatus is one entry of /debug/proxies.
type ProxyStatus struct {
	ID    string                `json:"id"`
	Pod   string                `json:"pod"`
	Types map[string]TypeStatus `json:"types"`
}

// Proxies reads pilotlight's /debug/proxies.
func (m *Mesh) Proxies() ([]ProxyStatus, error) {
	var ps []ProxyStatus
	err := GetJSON(m.HTTPURL("/debug/proxies"), &ps)
	return ps, err
}

// Problems reads pilotlight's /debug/problems: the raw JSON (to search for
// file and object names whatever the field names are) and its entries.
func (m *Mesh) Problems() (raw []byte, entries []map[string]any, err error) {
	raw, err = GetBody(m.HTTPURL("/debug/problems"))
	if err != nil {
		return raw, nil, err
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return raw, nil, fmt.Errorf("/debug/problems is not a JSON array: %v: %s", err, truncate(raw, 300))
	}
	return raw, entries, nil
}

// WaitSettled waits until pilotlight's /debug/proxies shows every pod's
// sidecar connected and every type's last sent version ACKed or NACKed.
func (m *Mesh) WaitSettled(timeout time.Duration) error {
	return Eventually(timeout, 50*time.Millisecond, func() error {
		ps, err := m.Proxies()
		if err != nil {
			return err
		}
		connected := map[string]bool{}
		for _, p := range ps {
			connected[p.Pod] = true
			for typ, s := range p.Types {
				if s.Sent != "" && s.Acked != s.Sent && s.Nacked != s.Sent {
					return fmt.Errorf("proxy %s: %s: sent %q, acked %q, nacked %q", p.ID, typ, s.Sent, s.Acked, s.Nacked)
				}
			}
		}
		for _, p := range m.Pods {
			if p.Envoy != nil && !connected[p.Key()] {
				return fmt.Errorf("pod %s is not in /debug/proxies", p.Key())
			}
		}
		return nil
	})
}

// checkNoNacks fails the test if any sidecar refused an update.
func (m *Mesh) checkNoNacks() {
	t := m.T
	// Let an update that is still in flight be answered first, so that a
	// late NACK is not missed; not a failure by itself.
	if err := m.WaitSettled(3 * time.Second); err != nil {
		t.Logf("harness: before the NACK check, pilotlight did not look settled: %v", err)
	}
	nacked := false
	for _, p := range m.Pods {
		if p.Envoy == nil {
			continue
		}
		if exited, _ := p.Envoy.Exited(); exited {
			continue // reported by the process's own cleanup
		}
		c, err := NackCounters(p.Admin())
		if err != nil {
			t.Errorf("harness: NACK check of the sidecar of %s: %v", p.Key(), err)
			continue
		}
		if s := FormatNonZero(c); s != "" {
			nacked = true
			t.Errorf("harness: the sidecar of %s rejected config from pilotlight: %s", p.Key(), s)
		}
	}
	if nacked {
		if b, err := GetBody(m.HTTPURL("/debug/proxies")); err == nil {
			t.Logf("pilotlight /debug/proxies:\n%s", b)
		}
	}
}
