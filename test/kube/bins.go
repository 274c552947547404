package kube

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Version is the Kubernetes release the tests run (see scripts/ensure-kube.sh
// and test/kube/tools/go.mod).
const Version = "v1.34.4"

// Bins are the control-plane binaries.
type Bins struct {
	Dir               string
	APIServer         string
	ControllerManager string
	Etcd              string
	// Kubectl is built beside the API server, of the same version, so that
	// tests (and the README's walk-through) never depend on the machine's.
	Kubectl string
}

var (
	binsOnce sync.Once
	bins     Bins
	binsErr  error
)

// FindBins returns the control-plane binaries: from $KUBE_BIN_DIR when set
// (make test sets it), else from scripts/ensure-kube.sh, which builds them
// into .cache/kube/<version>-<stamp>/ the first time (about 6 minutes on 2 cores)
// and only prints the folder afterwards. It never skips: a missing binary
// fails the test with what to do.
func FindBins(t testing.TB) Bins {
	t.Helper()
	binsOnce.Do(func() { bins, binsErr = findBins() })
	if binsErr != nil {
		t.Fatalf("%v", binsErr)
	}
	return bins
}

func findBins() (Bins, error) {
	dir := os.Getenv("KUBE_BIN_DIR")
	if dir == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			return Bins{}, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "ensure-kube.sh"))
		cmd.Dir = root
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return Bins{}, fmt.Errorf("kube: scripts/ensure-kube.sh failed after %v: %v\n%s",
				time.Since(start).Round(time.Second), err, stderr.String())
		}
		dir = strings.TrimSpace(stdout.String())
	}
	b := Bins{
		Dir:               dir,
		APIServer:         filepath.Join(dir, "kube-apiserver"),
		ControllerManager: filepath.Join(dir, "kube-controller-manager"),
		Etcd:              filepath.Join(dir, "etcd"),
		Kubectl:           filepath.Join(dir, "kubectl"),
	}
	for _, p := range []string{b.APIServer, b.ControllerManager, b.Etcd, b.Kubectl} {
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			return Bins{}, fmt.Errorf("kube: %s is missing or not executable; run scripts/ensure-kube.sh "+
				"(it builds kube-apiserver, kube-controller-manager, kubectl %s and etcd) or set KUBE_BIN_DIR", p, Version)
		}
	}
	return b, nil
}

// goListModuleDir returns the folder of a module the main module at root
// requires (go list -m -f {{.Dir}}), downloading it when it is not in the
// module cache yet.
func goListModuleDir(root, module string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("kube: the go command is not on PATH: %v", err)
	}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("kube: go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	dir, err := run("list", "-m", "-f", "{{.Dir}}", module)
	if err != nil {
		return "", err
	}
	if dir == "" {
		if _, err := run("mod", "download", module); err != nil {
			return "", err
		}
		if dir, err = run("list", "-m", "-f", "{{.Dir}}", module); err != nil {
			return "", err
		}
	}
	if dir == "" {
		return "", fmt.Errorf("kube: go list -m: no folder for module %s", module)
	}
	return dir, nil
}
