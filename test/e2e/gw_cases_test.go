package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestGatewayAndTCPCasesAcceptedByEnvoy: every view in the golden cases
// translate/testdata/cases/gw-*, tcp-* and mtls-* is served by pilotlight to a
// real Envoy per pod (a gateway for pods labelled istio: ingressgateway),
// and each accepts all of it: no NACK, and no listener left warming (a
// TLS listener warms until its SDS secret arrives). The cases' fixed pod
// addresses are replaced by fresh ones, so that runs side by side do not
// meet; each Envoy runs in the case folder, where relative certificate
// paths point.
func TestGatewayAndTCPCasesAcceptedByEnvoy(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, pattern := range []string{"gw-*", "tcp-*", "mtls-*"} {
		found, _ := filepath.Glob(filepath.Join(root, "translate", "testdata", "cases", pattern))
		dirs = append(dirs, found...)
	}
	if len(dirs) == 0 {
		t.Fatal("no gw-*, tcp-* or mtls-* cases in translate/testdata/cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkCaseAccepted(t, dir) })
	}
}

func checkCaseAccepted(t *testing.T, src string) {
	bins := harness.BuildBinaries(t)
	envoy := harness.MustEnvoy(t)
	dir := filepath.Join(harness.LogDir(t), "case")
	pods := copyCaseWithFreshAddresses(t, src, dir)

	addrs := harness.FreeAddrs(t, "127.0.0.1", 2)
	pl := harness.Start(t, harness.Proc{Label: "pilotlight", Path: bins.Pilotlight,
		Args: []string{"serve", "--config-dir", dir, "--xds-addr", addrs[0], "--http-addr", addrs[1], "--state-dir", harness.StateDir(t)}})
	if err := harness.WaitHTTP("http://"+addrs[1]+"/readyz", converge); err != nil {
		t.Fatalf("%v\n%s", err, pl.Tail(4<<10))
	}
	var proxies []*caseProxy
	for _, p := range pods {
		proxies = append(proxies, startCaseProxy(t, bins, envoy, dir, addrs[0], p))
	}
	for _, p := range proxies {
		if err := harness.WaitEnvoyAccepted(p.envoy, p.admin, converge); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	for _, p := range proxies {
		if err := waitAllAccepted(p); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
	}
}

// casePod is what the test needs of a Pod document.
type casePod struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Status struct {
		PodIP string `json:"podIP"`
	} `json:"status"`
}

func (p *casePod) local() string { return p.Metadata.Annotations[harness.LocalAddressAnnotation] }

// copyCaseWithFreshAddresses copies the case folder to dst, with every pod's
// IP and local address replaced by freshly allocated ones, and returns the
// pods (with their new addresses).
func copyCaseWithFreshAddresses(t *testing.T, src, dst string) []*casePod {
	t.Helper()
	files := map[string][]byte{}
	var pods []*casePod
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		files[rel] = data
		if strings.HasSuffix(path, ".yaml") {
			pods = append(pods, podsOf(t, data)...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var replacements []string
	for _, p := range pods {
		a := harness.AllocPod(t)
		replacements = append(replacements, p.Status.PodIP, a.PodIP, p.local(), a.Local)
		p.Status.PodIP, p.Metadata.Annotations[harness.LocalAddressAnnotation] = a.PodIP, a.Local
	}
	for rel, data := range files {
		if strings.HasSuffix(rel, ".yaml") {
			data = replaceAddresses(data, replacements)
		}
		path := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return pods
}

func podsOf(t *testing.T, data []byte) []*casePod {
	var out []*casePod
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		p := &casePod{}
		if err := yaml.Unmarshal([]byte(doc), p); err != nil {
			t.Fatal(err)
		}
		if p.Kind == "Pod" && p.Status.PodIP != "" && p.local() != "" {
			out = append(out, p)
		}
	}
	return out
}

// replaceAddresses replaces whole addresses (127.40.0.1 but not the start
// of 127.40.0.10), old/new pairs in order.
func replaceAddresses(data []byte, pairs []string) []byte {
	for i := 0; i < len(pairs); i += 2 {
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(pairs[i]) + `\b`)
		data = re.ReplaceAll(data, []byte(pairs[i+1]))
	}
	return data
}

// caseProxy is the Envoy of one pod of a case.
type caseProxy struct {
	name, admin string
	gateway     bool
	envoy       *harness.Process
}

func startCaseProxy(t *testing.T, bins harness.Binaries, envoy, dir, xdsAddr string, p *casePod) *caseProxy {
	t.Helper()
	cp := &caseProxy{
		name:    p.Metadata.Namespace + "/" + p.Metadata.Name,
		admin:   p.local() + ":" + strconv.Itoa(harness.AdminPort),
		gateway: p.Metadata.Labels["istio"] == "ingressgateway",
	}
	args := []string{"bootstrap", "--pod", p.Metadata.Name, "--namespace", p.Metadata.Namespace,
		"--pod-ip", p.Status.PodIP, "--local-address", p.local(), "--xds-addr", xdsAddr, "--state-dir", harness.StateDir(t)}
	if cp.gateway {
		args = append(args, "--gateway")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bins.Pilotlight, args...).Output()
	if err != nil {
		t.Fatalf("pilotlight %s: %v", strings.Join(args, " "), err)
	}
	boot := filepath.Join(harness.LogDir(t), "bootstrap-"+p.Metadata.Name+".yaml")
	if err := os.WriteFile(boot, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cp.envoy = harness.Start(t, harness.Proc{Label: "envoy-" + p.Metadata.Name, Path: envoy, Dir: dir,
		Args: []string{"-c", boot, "--disable-hot-restart", "--log-level", "warn"}})
	return cp
}

// waitAllAccepted waits until the Envoy has no listener warming, and then
// checks that it rejected nothing and that a gateway has listeners.
func waitAllAccepted(p *caseProxy) error {
	var stats map[string]uint64
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		var err error
		stats, err = harness.EnvoyStats(p.admin, `^listener_manager\.total_listeners_(warming|active)$|update_rejected$`)
		if err != nil {
			return err
		}
		if n := stats["listener_manager.total_listeners_warming"]; n > 0 {
			return fmt.Errorf("%d listeners still warming", n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	delete(stats, "listener_manager.total_listeners_active")
	delete(stats, "listener_manager.total_listeners_warming")
	if s := harness.FormatNonZero(stats); s != "" {
		return fmt.Errorf("rejected config: %s", s)
	}
	if active, _ := harness.EnvoyStat(p.admin, "listener_manager.total_listeners_active"); p.gateway && active == 0 {
		return fmt.Errorf("the gateway has no active listener")
	}
	return nil
}
