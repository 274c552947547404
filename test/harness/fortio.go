package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fortio (fortio.org/fortio) is the load generator of the end-to-end tests
// that need real concurrency, such as circuit breaking. It is built once by
// scripts/ensure-fortio.sh into <repo>/.tools (git ignored).

var (
	fortioOnce sync.Once
	fortioPath string
	fortioErr  error
)

// FortioPath finds fortio: $FORTIO_BIN, else the binary that
// scripts/ensure-fortio.sh builds (and builds it on first use, about a
// minute cold).
func FortioPath() (string, error) {
	fortioOnce.Do(func() { fortioPath, fortioErr = findFortio() })
	return fortioPath, fortioErr
}

func findFortio() (string, error) { return findTool("FORTIO_BIN", "ensure-fortio.sh") }

// findTool finds a tool the tests build: $env when set, else the path that
// scripts/<script> prints (it builds the tool on first use).
func findTool(env, script string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%q is not an executable file", env, p)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", script))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/%s: %v\n%s", script, err, stderr.String())
	}
	p := strings.TrimSpace(string(out))
	if !isExecutable(p) {
		return "", fmt.Errorf("scripts/%s printed %q, which is not an executable file", script, p)
	}
	return p, nil
}

// MustFortio returns FortioPath or fails the test with its message.
func MustFortio(t testing.TB) string {
	t.Helper()
	p, err := FortioPath()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// FortioResult is the part of `fortio load -json -` that tests read.
type FortioResult struct {
	// RetCodes counts the answers by HTTP status ("200", "503"); fortio
	// counts a connection error as -1.
	RetCodes          map[string]int64
	ActualQPS         float64
	ActualDuration    int64 // nanoseconds
	NumThreads        int
	DurationHistogram struct {
		Count int64
		Avg   float64 // seconds
	}
}

// Calls is the number of calls fortio made.
func (r *FortioResult) Calls() int64 {
	var n int64
	for _, c := range r.RetCodes {
		n += c
	}
	return n
}

// Share is the fraction of calls that got status code (e.g. "503").
func (r *FortioResult) Share(code string) float64 {
	if r.Calls() == 0 {
		return 0
	}
	return float64(r.RetCodes[code]) / float64(r.Calls())
}

// String is fortio's summary: "40 calls: 200 x12, 503 x28 in 1.2s".
func (r *FortioResult) String() string {
	codes := make([]string, 0, len(r.RetCodes))
	for code := range r.RetCodes {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	parts := make([]string, 0, len(codes))
	for _, code := range codes {
		parts = append(parts, fmt.Sprintf("%s x%d", code, r.RetCodes[code]))
	}
	return fmt.Sprintf("%d calls: %s in %v", r.Calls(), strings.Join(parts, ", "), time.Duration(r.ActualDuration).Round(time.Millisecond))
}

// FortioLoad runs `fortio load -json - ARGS...` (args end with the URL) and
// returns its results. fortio exits 0 even when every call failed, so the
// caller must look at RetCodes. Its log goes to the test's log folder.
func FortioLoad(t testing.TB, args ...string) (*FortioResult, error) {
	t.Helper()
	bin := MustFortio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"load", "-json", "-", "-logger-json=false"}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	logPath := filepath.Join(LogDir(t), "fortio.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "# %s %s\n", bin, strings.Join(full, " "))
	cmd.Stderr = logFile
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("fortio %s: %v (log: %s)", strings.Join(full, " "), err, logPath)
	}
	var r FortioResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("fortio: decoding its JSON: %v: %s", err, truncate(out, 300))
	}
	return &r, nil
}
