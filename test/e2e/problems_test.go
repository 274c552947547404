package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/test/harness"
)

// brokenYAML is not YAML at all (an unclosed flow sequence and mapping).
const brokenYAML = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: broken
  namespace: sock-shop
spec:
  hosts: [front-end
  http: {{{
`

// catalogueRules: a good DestinationRule, then a VirtualService whose route
// names a subset no DestinationRule defines.
const catalogueRules = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: catalogue
  namespace: sock-shop
spec:
  host: catalogue
  subsets:
  - name: v1
    labels:
      version: v1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: catalogue-canary
  namespace: sock-shop
spec:
  hosts:
  - catalogue
  http:
  - route:
    - destination:
        host: catalogue
        subset: v9
`

// TestInvalidDocumentIsReportedAndNoNack: broken config next to good config
// is reported at /debug/problems (by file, and by object where there is
// one), the good config is served, and no Envoy is sent anything it rejects.
func TestInvalidDocumentIsReportedAndNoNack(t *testing.T) {
	s := startSockShop(t, map[string]string{
		"front-end-destinationrule.yaml": destinationRuleFrontEnd,
		"front-end-virtualservice.yaml":  virtualServiceAllTo("v1"),
		"broken.yaml":                    brokenYAML,
		"catalogue-rules.yaml":           catalogueRules,
	})
	waitProblems(t, s, "broken.yaml", "catalogue-rules.yaml", "catalogue-canary")

	// The good config is served: front-end all to v1, and the catalogue
	// DestinationRule that shares a file with the bad VirtualService.
	s.waitClusters(t, frontEndV1Cluster, frontEndV2Cluster, "outbound|80|v1|catalogue.sock-shop.svc.cluster.local")
	c := s.client.Client()
	if _, err := harness.WaitForRoute(c, frontEndURL, nil, converge, servedByVersion("v1")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if a := getOK(t, c, frontEndURL, ""); a.Echo.Pod != "front-end-v1" {
			t.Fatalf("request %d reached %s, want front-end-v1 only", i, a.Echo.Pod)
		}
	}
	// The invalid VirtualService is left out as a whole (half a
	// VirtualService would send traffic where nobody meant it to go), so
	// catalogue keeps its default route.
	if a, err := harness.WaitForRoute(c, catalogueURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	} else if a.Echo.Pod != "catalogue-v1" {
		t.Errorf("catalogue answered from %s", a.Echo.Pod)
	}

	// A broken file written while pilotlight runs: reported, and the
	// routing in force is kept.
	s.WriteFile("late-broken.yaml", "kind: [this is not\n")
	waitProblems(t, s, "late-broken.yaml")
	for i := 0; i < 10; i++ {
		if a := getOK(t, c, frontEndURL, ""); a.Echo.Pod != "front-end-v1" {
			t.Fatalf("after late-broken.yaml, request %d reached %s, want front-end-v1", i, a.Echo.Pod)
		}
	}

	if err := harness.WaitHTTP(s.HTTPURL("/healthz"), 5*time.Second); err != nil {
		t.Errorf("pilotlight /healthz: %v", err)
	}
	if err := s.Pilotlight.CheckRunning(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSettled(10 * time.Second); err != nil {
		t.Errorf("pilotlight: %v", err)
	}
	for _, p := range s.Pods {
		n, err := harness.NackCount(p.Admin())
		if err != nil {
			t.Errorf("sidecar of %s: %v", p.Key(), err)
		} else if n != 0 {
			c, _ := harness.NackCounters(p.Admin())
			t.Errorf("sidecar of %s NACKed %d updates: %s", p.Key(), n, harness.FormatNonZero(c))
		}
	}
	if ps, err := s.Proxies(); err != nil {
		t.Errorf("/debug/proxies: %v", err)
	} else {
		for _, p := range ps {
			for typ, st := range p.Types {
				if st.Nacked != "" || st.Error != "" {
					t.Errorf("/debug/proxies: %s %s: nacked %q: %s", p.ID, typ, st.Nacked, st.Error)
				}
			}
		}
	}
}

// waitProblems waits until /debug/problems mentions every one of names.
func waitProblems(t *testing.T, s *sockShop, names ...string) {
	t.Helper()
	var raw []byte
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		var err error
		raw, _, err = s.Problems()
		if err != nil {
			return err
		}
		for _, n := range names {
			if !bytes.Contains(raw, []byte(n)) {
				return fmt.Errorf("/debug/problems does not name %q", n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n/debug/problems:\n%s", err, raw)
	}
}

// TestExampleSockShopHasNoProblems: pilotlight reads examples/sockshop
// without a single problem, and each of its pods gets a bootstrap that
// Envoy validates. (Only the control plane runs, on free ports: the
// example's fixed 127.10/127.20 addresses stay free for a demo running
// alongside.)
func TestExampleSockShopHasNoProblems(t *testing.T) {
	bins := harness.BuildBinaries(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "sockshop")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	addrs := harness.FreeAddrs(t, "127.0.0.1", 2)
	p := harness.Start(t, harness.Proc{Label: "pilotlight", Path: bins.Pilotlight,
		Args: []string{"serve", "--config-dir", dir, "--xds-addr", addrs[0], "--http-addr", addrs[1], "--state-dir", harness.StateDir(t)}})
	base := "http://" + addrs[1]
	err = harness.Eventually(converge, 50*time.Millisecond, func() error {
		if err := p.CheckRunning(); err != nil {
			return harness.Permanent(err)
		}
		return harness.WaitHTTP(base+"/readyz", 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	var problems []any
	if err := harness.GetJSON(base+"/debug/problems", &problems); err != nil {
		t.Fatal(err)
	}
	if len(problems) != 0 {
		t.Errorf("examples/sockshop has problems: %v", problems)
	}

	// Every pod of the example gets a bootstrap that this Envoy accepts.
	envoy := harness.MustEnvoy(t)
	pods := examplePods(t, dir)
	if len(pods) < 4 {
		t.Fatalf("examples/sockshop: %d pods found, want front-end-v1, front-end-v2, catalogue-v1 and sleep", len(pods))
	}
	for _, pod := range pods {
		local := pod.Metadata.Annotations[harness.LocalAddressAnnotation]
		if pod.Status.PodIP == "" || local == "" {
			t.Errorf("pod %s/%s: podIP %q, local address %q: want both", pod.Metadata.Namespace, pod.Metadata.Name, pod.Status.PodIP, local)
			continue
		}
		out, err := exec.Command(bins.Pilotlight, "bootstrap", "--pod", pod.Metadata.Name, "--namespace", pod.Metadata.Namespace,
			"--pod-ip", pod.Status.PodIP, "--local-address", local, "--xds-addr", addrs[0], "--state-dir", harness.StateDir(t)).Output()
		if err != nil {
			t.Errorf("pilotlight bootstrap for %s: %v", pod.Metadata.Name, err)
			continue
		}
		path := filepath.Join(harness.LogDir(t), pod.Metadata.Name+".bootstrap.yaml")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(envoy, "--mode", "validate", "-c", path, "--disable-hot-restart", "--log-level", "warn").CombinedOutput(); err != nil {
			t.Errorf("envoy --mode validate of the bootstrap of %s: %v\n%s", pod.Metadata.Name, err, out)
		}
	}
}

type examplePod struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Status struct {
		PodIP string `json:"podIP"`
	} `json:"status"`
}

// examplePods reads the Pods of a folder of YAML files.
func examplePods(t *testing.T, dir string) []examplePod {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pods []examplePod
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			var p examplePod
			if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if p.Kind == "Pod" {
				pods = append(pods, p)
			}
		}
	}
	return pods
}
