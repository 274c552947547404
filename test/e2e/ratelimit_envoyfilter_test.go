package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/test/harness"
)

// tutorialConfigMap is the global rate-limit tutorial's ConfigMap: the
// rate-limit service's own limits, mounted as its config file.
const tutorialConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: ratelimit-config
  namespace: rate-limit
data:
  config.yaml: |
    domain: ratelimit
    descriptors:
      - key: PLAN
        value: BASIC
        descriptors:
          - key: ACCOUNT
            rate_limit:
              unit: minute
              requests_per_unit: 1
      - key: PLAN
        value: PLUS
        descriptors:
          - key: ACCOUNT
            rate_limit:
              unit: minute
              requests_per_unit: 2
`

// caseFiles reads the YAML files of a translate golden case, named
// "<case>-<file>".
func caseFiles(t *testing.T, name string, pattern string) map[string]string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for base, body := range globFiles(t, filepath.Join(root, "translate", "testdata", "cases", name), pattern) {
		files[name+"-"+base] = body
	}
	return files
}

// globFiles reads the files of dir that match pattern, by base name.
func globFiles(t *testing.T, dir, pattern string) map[string]string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(paths) == 0 {
		t.Fatalf("no %s in %s", pattern, dir)
	}
	files := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = string(b)
	}
	return files
}

// TestRateLimitGlobalEnvoyFiltersThroughGateway is the tutorial's global
// case exactly as the tutorial writes it: its two EnvoyFilters (the
// ratelimit filter before the router, a STRICT_DNS cluster to
// ratelimit.rate-limit.svc.cluster.local, the x-plan/x-account descriptors
// on virtual host "*:80"), unchanged, and the rate-limit service reading
// the tutorial's ConfigMap. The cluster's name resolves through
// pilotlight's DNS (serve/bootstrap --dns-addr), as kube-dns would.
func TestRateLimitGlobalEnvoyFiltersThroughGateway(t *testing.T) {
	var cm struct {
		Data map[string]string
	}
	if err := yaml.Unmarshal([]byte(tutorialConfigMap), &cm); err != nil {
		t.Fatal(err)
	}
	s := startRateLimitShop(t, rlShopOptions{
		rlNamespace: "rate-limit",
		configFiles: map[string]string{"config.yaml": cm.Data["config.yaml"]},
		files:       caseFiles(t, "envoyfilter-tutorial-ratelimit", "[12]*.yaml"),
		dns:         true,
	})
	s.checkPlans(t, tutorialPlans())

	// Both EnvoyFilters matched: nothing about them in /debug/problems.
	raw, _, err := s.Problems()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "EnvoyFilter") {
		t.Errorf("/debug/problems mentions the tutorial's EnvoyFilters: %s", raw)
	}
}
