package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/translate"
)

// TestGoldenCasesValidateInEnvoy: every view the golden cases of
// translate/testdata/cases translate to is config Envoy accepts. The views
// of one case go into one bootstrap as static resources (routes stay on
// ADS), and `envoy --mode validate` checks every listener, filter and
// cluster in it as it would check an update: so that a mapping with no
// end-to-end test of its own (every AuthorizationPolicy field, say) still
// cannot be sent to a proxy that would NACK it.
func TestGoldenCasesValidateInEnvoy(t *testing.T) {
	envoy := harness.MustEnvoy(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join(root, "translate", "testdata", "cases", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			config := staticBootstrap(t, dir)
			if missing := missingFiles(t, dir, config); len(missing) > 0 {
				t.Skipf("the case names files this machine does not have (%v): Envoy would refuse them here, not for their shape", missing)
			}
			path := filepath.Join(harness.LogDir(t), "bootstrap.json")
			if err := os.WriteFile(path, config, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(envoy, "--mode", "validate", "-c", path, "--disable-hot-restart", "--log-level", "error")
			cmd.Dir = dir // the cases name their certificate files relative to it
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("envoy --mode validate: %v\n%s", err, out)
			}
		})
	}
}

// staticBootstrap puts the clusters, listeners and secrets of every pod of
// a case into one bootstrap, each name once.
func staticBootstrap(t *testing.T, dir string) []byte {
	t.Helper()
	snap, err := folder.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A proxy's identity, as the xds layer adds it to every view: a token
	// file and the mesh root for the bootstrap, and the SDS secrets
	// "default" and "ROOTCA" that listeners and clusters name.
	identity := newTestIdentity(t)
	b, err := translate.Bootstrap(translate.BootstrapOptions{
		Proxy:   translate.Proxy{Type: translate.Sidecar, IP: "127.0.0.1", PodName: "validate", Namespace: "default"},
		XDSAddr: "127.0.0.1:15010", AdminAddr: "127.0.0.1:15000",
		TokenFile: identity.tokenFile, RootCertFile: identity.rootFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.DynamicResources.CdsConfig, b.DynamicResources.LdsConfig = nil, nil
	b.StaticResources = &bootstrap.Bootstrap_StaticResources{Secrets: identity.secrets}
	seen := map[string]bool{}
	first := func(kind, name string) bool {
		if seen[kind+" "+name] {
			return false
		}
		seen[kind+" "+name] = true
		return true
	}
	mesh := translate.NewMesh(snap)
	static := b.StaticResources
	for _, s := range identity.secrets {
		first("secret", s.Name)
	}
	for _, pod := range snap.Pods {
		p := translate.Proxy{Type: translate.Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace}
		if pod.Labels["istio"] == "ingressgateway" {
			p.Type = translate.Router
		}
		res := mesh.ForProxy(p)
		static.Clusters = appendNew(static.Clusters, res.Clusters, func(c *cluster.Cluster) bool { return first("cluster", c.Name) })
		static.Listeners = appendNew(static.Listeners, res.Listeners, func(l *listener.Listener) bool { return first("listener", l.Name) })
		static.Secrets = appendNew(static.Secrets, res.Secrets, func(s *tlsv3.Secret) bool { return first("secret", s.Name) })
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// missingFiles lists the files (DataSource filename) the config names that
// do not exist, relative ones taken from dir.
func missingFiles(t *testing.T, dir string, config []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(config, &doc); err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if name, ok := x.(string); ok && k == "filename" {
					if !filepath.IsAbs(name) {
						name = filepath.Join(dir, name)
					}
					if _, err := os.Stat(name); err != nil {
						missing = append(missing, name)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	return missing
}

// testIdentity is a proxy identity from a throwaway CA.
type testIdentity struct {
	tokenFile, rootFile string
	secrets             []*tlsv3.Secret
}

func newTestIdentity(t *testing.T) *testIdentity {
	t.Helper()
	files, err := authn.NewSelfSignedFiles(authn.DefaultTrustDomain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := authn.NewCA(files, authn.DefaultTrustDomain, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueWorkload(authn.Identity{Namespace: "default", ServiceAccount: "validate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	id := &testIdentity{tokenFile: filepath.Join(dir, "token"), rootFile: filepath.Join(dir, "root-cert.pem"),
		secrets: []*tlsv3.Secret{translate.WorkloadCertSecret(cert.ChainPEM, cert.KeyPEM), translate.RootCASecret(ca.RootsPEM())}}
	if err := os.WriteFile(id.tokenFile, []byte("not-checked-by-validate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(id.rootFile, ca.RootsPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return id
}

func appendNew[T any](to, from []T, keep func(T) bool) []T {
	for _, x := range from {
		if keep(x) {
			to = append(to, x)
		}
	}
	return to
}
