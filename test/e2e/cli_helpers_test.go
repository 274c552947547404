package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// pilotlightCLI runs a pilotlight command against the mesh's control
// plane (--pilotlight-addr) and returns its stdout, and stderr on failure.
func pilotlightCLI(t testing.TB, m *harness.Mesh, args ...string) (string, error) {
	t.Helper()
	args = append(args, "--pilotlight-addr", m.HTTPAddr)
	return runCLI(m.Bins.Pilotlight, args...)
}

// runCLI runs the pilotlight binary with args, bounded in time.
func runCLI(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("pilotlight %s: %w\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// cliJSON runs a pilotlight command with -o json and decodes its output.
func cliJSON(t testing.TB, m *harness.Mesh, v any, args ...string) error {
	t.Helper()
	out, err := pilotlightCLI(t, m, append(args, "-o", "json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("pilotlight %s -o json: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
