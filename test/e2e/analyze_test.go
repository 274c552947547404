package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestAnalyze: `pilotlight analyze --config-dir` passes the demo mesh
// (exit 0) and, with a broken rule added, prints istioctl analyze's lines
// with the file and line of the bad field and exits 1.
func TestAnalyze(t *testing.T) {
	bins := harness.BuildBinaries(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	demo := filepath.Join(root, "examples", "sockshop")
	out, err := runCLI(bins.Pilotlight, "analyze", "--config-dir", demo)
	if err != nil || !strings.Contains(out, "No validation issues found") {
		t.Fatalf("analyze of the demo: %v\n%s", err, out)
	}

	dir := t.TempDir()
	entries, err := os.ReadDir(demo)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(demo, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// catalogueRules: document 1 routes to subset v9, on line 25 of the file.
	if err := os.WriteFile(filepath.Join(dir, "60-canary.yaml"), []byte(catalogueRules), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(bins.Pilotlight, "analyze", "--config-dir", dir)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("analyze of a broken folder: %v (want exit status 1)\n%s", err, out)
	}
	want := `Error [IST0101] (VirtualService sock-shop/catalogue-canary 60-canary.yaml:25) spec.http[0].route[0].destination.subset: subset "v9" is not defined`
	if !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 {
		t.Fatalf("analyze printed:\n%s\nwant one line starting %s", out, want)
	}
}
