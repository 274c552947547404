package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestDestinationRuleGoldenCasesAcceptedByEnvoy serves the DestinationRule
// golden cases (translate/testdata/cases/dr-*) to a real sidecar: every
// policy they cover, PASSTHROUGH, Maglev, cookie hashing, circuit breakers,
// outlier detection and each TLS mode included, must reach it and be
// accepted (the harness fails the test on any NACK at cleanup). Their
// certificate paths (/etc/certs/…) point at a test CA instead, since Envoy
// reads the files when it accepts a cluster.
func TestDestinationRuleGoldenCasesAcceptedByEnvoy(t *testing.T) {
	m := harness.NewMesh(t, drNamespace)
	client := m.AddClient("sleep")
	pki := harness.NewTestPKI(t, "sleep", "simple.example.com")
	cases := writeGoldenCases(t, m, strings.NewReplacer("/etc/certs/", pki.Dir+"/"))
	t.Logf("golden cases: %s", strings.Join(cases, ", "))
	m.Start()

	// One cluster for each kind of policy in the cases.
	for _, name := range []string{
		"outbound|80||passthrough.lb.svc.cluster.local", // ORIGINAL_DST
		"outbound|80||cookie.lb.svc.cluster.local",      // MAGLEV
		"outbound|80|v2|split.lb.svc.cluster.local",     // RING_HASH of a subset
		"outbound|80||limited.pool.svc.cluster.local",   // every connectionPool field
		"outbound|80||modern.outlier.svc.cluster.local", // outlier detection
		"outbound|80||mutual.tls.svc.cluster.local",     // MUTUAL, CRL
		"outbound|80||system.tls.svc.cluster.local",     // the system's CA bundle
		"outbound|9080|v2|reviews.bookinfo.svc.cluster.local",
	} {
		waitCluster(t, client.Admin(), name)
	}
	if err := m.WaitSettled(converge); err != nil {
		t.Fatal(err)
	}
}

// writeGoldenCases copies the dr-* case folders into the mesh's config
// folder, each in a folder of its own, rewritten by r. It returns their names.
func writeGoldenCases(t testing.TB, m *harness.Mesh, r *strings.Replacer) []string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join(root, "translate", "testdata", "cases", "dr-*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no DestinationRule golden cases found (%v)", err)
	}
	sort.Strings(dirs)
	var names []string
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m.WriteFile(filepath.Base(dir)+"/"+filepath.Base(f), r.Replace(string(b)))
		}
		names = append(names, filepath.Base(dir))
	}
	return names
}

// waitCluster waits until the Envoy at admin has the cluster (with or
// without endpoints: an ORIGINAL_DST cluster never has any).
func waitCluster(t testing.TB, admin, name string) {
	t.Helper()
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		cs, err := harness.EnvoyClusters(admin)
		if err != nil {
			return err
		}
		if _, ok := cs[name]; !ok {
			return fmt.Errorf("envoy %s has no cluster %s", admin, name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
