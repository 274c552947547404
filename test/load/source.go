package load

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/test/harness"
)

// source is where the mesh lives and `pilotlight serve` reads it from.
type source interface {
	// start puts the mesh in place and starts the server on it, for that
	// many proxies (of m.proxies) to connect.
	start(t testing.TB, m Mesh, proxies int, serverArgs []string) *server
	// setReady changes a pod's readiness; setWeights a service's split.
	setReady(t testing.TB, svc service, p pod, ready bool)
	setWeights(t testing.TB, svc service, w weights)
}

// server is the pilotlight process under test, and how its sidecars
// prove who they are.
type server struct {
	xdsAddr, httpAddr string
	proc              *harness.Process
	creds             Credentials
}

func (s *server) process() process { return process{pid: s.proc.Pid()} }

// startServer runs `pilotlight serve` with args (the source's flags), and
// waits until it serves a snapshot.
func startServer(t testing.TB, args []string) *server {
	t.Helper()
	bins := harness.BuildBinaries(t)
	addrs := harness.FreeAddrs(t, "127.0.0.1", 2)
	s := &server{xdsAddr: addrs[0], httpAddr: addrs[1]}
	args = append([]string{"serve", "--xds-addr", s.xdsAddr, "--http-addr", s.httpAddr, "--log-level", "warn"}, args...)
	s.proc = harness.Start(t, harness.Proc{Label: "pilotlight", Path: bins.Pilotlight, Args: args})
	err := harness.Eventually(10*time.Minute, 100*time.Millisecond, func() error {
		if err := s.proc.CheckRunning(); err != nil {
			return harness.Permanent(err)
		}
		_, err := harness.GetBody("http://" + s.httpAddr + "/readyz")
		return err
	})
	if err != nil {
		t.Fatalf("pilotlight did not become ready: %v", err)
	}
	return s
}

// folderSource writes the mesh into a folder, one file per service, and
// serves it with `pilotlight serve --config-dir`. A change rewrites one
// file (written aside, then renamed, as an editor saves).
type folderSource struct {
	dir string

	mu       sync.Mutex
	notReady map[string]bool
	weights  map[string]weights
}

func (f *folderSource) start(t testing.TB, m Mesh, _ int, serverArgs []string) *server {
	t.Helper()
	f.dir = t.TempDir()
	f.notReady, f.weights = map[string]bool{}, map[string]weights{}
	if err := os.WriteFile(filepath.Join(f.dir, "namespaces.yaml"), []byte(m.namespacesYAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, svc := range m.services() {
		f.write(t, svc)
	}
	state := t.TempDir()
	srv := startServer(t, append([]string{"--config-dir", f.dir, "--state-dir", state}, serverArgs...))
	creds, err := folderCredentials(state)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	srv.creds = creds
	return srv
}

// folderCredentials are what `pilotlight bootstrap` gives a pod's Envoy in
// folder mode: a token minted with the state folder's key, and its root.
func folderCredentials(state string) (Credentials, error) {
	root, err := os.ReadFile(authn.StateRootPath(state))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		return nil, fmt.Errorf("no certificate in %s", authn.StateRootPath(state))
	}
	signer, err := authn.LoadTokenSigner(state, nil)
	if err != nil {
		return nil, err
	}
	return TokenTLS{Roots: pool, ServerName: "127.0.0.1", Token: func(p Proxy) (string, error) {
		return signer.Mint(p.Namespace, p.Pod, 24*time.Hour)
	}}, nil
}

func (f *folderSource) write(t testing.TB, svc service) {
	t.Helper()
	f.mu.Lock()
	w, ok := f.weights[svc.Host()]
	if !ok {
		w = defaultWeights
	}
	content := svc.yaml(f.notReady, w)
	f.mu.Unlock()
	dir := filepath.Join(f.dir, svc.Namespace)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+svc.Name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, svc.Name+".yaml")); err != nil {
		t.Fatal(err)
	}
}

func (f *folderSource) setReady(t testing.TB, svc service, p pod, ready bool) {
	f.mu.Lock()
	f.notReady[p.Name] = !ready
	f.mu.Unlock()
	f.write(t, svc)
}

func (f *folderSource) setWeights(t testing.TB, svc service, w weights) {
	f.mu.Lock()
	f.weights[svc.Host()] = w
	f.mu.Unlock()
	f.write(t, svc)
}

func (f *folderSource) String() string { return fmt.Sprintf("folder %s", f.dir) }
