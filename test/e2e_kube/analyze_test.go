package e2ekube

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// checkAnalyze runs `pilotlight analyze --kubeconfig` and checks that it
// exits 1 and reports exactly want: origin -> "CODE field".
func checkAnalyze(t *testing.T, kubeconfig string, want map[string]string) {
	t.Helper()
	bins := harness.BuildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bins.Pilotlight, "analyze", "--kubeconfig", kubeconfig, "-o", "json").Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("pilotlight analyze --kubeconfig: %v (want exit status 1)\n%s", err, out)
	}
	var messages []struct{ Code, Origin, Field string }
	if err := json.Unmarshal(out, &messages); err != nil {
		t.Fatalf("analyze -o json: %v: %s", err, out)
	}
	got := map[string]string{}
	for _, m := range messages {
		got[m.Origin] = m.Code + " " + m.Field
	}
	if len(got) != len(want) {
		t.Errorf("analyze found %v, want %v", got, want)
	}
	for origin, w := range want {
		if got[origin] != w {
			t.Errorf("analyze: %s: %q, want %q (all: %s)", origin, got[origin], w, out)
		}
	}
}
