package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// statusRow is one proxy of `pilotlight proxy-status -o json`.
type statusRow struct {
	Name         string `json:"name"`
	ControlPlane string `json:"controlPlane"`
	EnvoyVersion string `json:"envoyVersion"`
	Types        map[string]struct {
		State       string `json:"state"`
		Description string `json:"description"`
		Waiting     bool   `json:"waiting"`
	} `json:"types"`
}

func proxyStatus(t testing.TB, m *harness.Mesh) (map[string]statusRow, error) {
	var rows []statusRow
	if err := cliJSON(t, m, &rows, "proxy-status"); err != nil {
		return nil, err
	}
	out := map[string]statusRow{}
	for _, r := range rows {
		out[r.Name] = r
	}
	return out, nil
}

// wantStates checks the state of each type of one proxy.
func wantStates(rows map[string]statusRow, name string, want map[string]string) error {
	r, ok := rows[name]
	if !ok {
		return fmt.Errorf("proxy-status has no %s", name)
	}
	for typ, state := range want {
		if got := r.Types[typ].State; got != state {
			return fmt.Errorf("%s %s: %s (%s), want %s", name, typ, got, r.Types[typ].Description, state)
		}
	}
	return nil
}

// Every sidecar gets its workload certificate over SDS.
var synced = map[string]string{"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED", "RDS": "SYNCED", "SDS": "SYNCED"}

// TestProxyStatus: against real Envoy, every sidecar is SYNCED after it
// connects; a sidecar paused with SIGSTOP does not ACK a change and shows
// STALE (with an age) for the changed types while the others are SYNCED
// again; once resumed it ACKs and is SYNCED.
func TestProxyStatus(t *testing.T) {
	m := harness.NewMesh(t, ns)
	m.AddService("catalogue", 80, 8080)
	m.AddPod("catalogue-v1", map[string]string{"app": "catalogue", "version": "v1"})
	client := m.AddClient("sleep")
	m.Start()

	var rows map[string]statusRow
	err := harness.Eventually(converge, 100*time.Millisecond, func() error {
		var err error
		if rows, err = proxyStatus(t, m); err != nil {
			return err
		}
		for _, p := range m.Pods {
			if err := wantStates(rows, p.Name+"."+p.Namespace, synced); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sleep := rows["sleep."+ns]
	if envoy, _ := harness.EnvoyBinaryVersion(m.EnvoyBin); sleep.EnvoyVersion != envoy {
		t.Errorf("VERSION %q, want the Envoy binary's %q", sleep.EnvoyVersion, envoy)
	}
	if sleep.ControlPlane == "" {
		t.Error("CONTROL PLANE is empty")
	}
	table, err := pilotlightCLI(t, m, "proxy-status")
	if err != nil {
		t.Fatal(err)
	}
	header := regexp.MustCompile(`(?m)^NAME\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+CONTROL PLANE\s+VERSION$`)
	row := regexp.MustCompile(`(?m)^sleep\.sock-shop\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+\S+\s+1\.40\.0$`)
	if !header.MatchString(table) || !row.MatchString(table) {
		t.Fatalf("proxy-status table:\n%s", table)
	}

	// Pause the client's Envoy, then add a service: clusters, endpoints and
	// the route table change for every sidecar.
	if err := client.Envoy.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = client.Envoy.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // runs before the harness stops (or NACK-checks) it
	extra := &harness.Service{Name: "orders", Namespace: ns, Selector: map[string]string{"app": "orders"},
		Ports: []harness.ServicePort{{Name: "http", Port: 80, TargetPort: 8080}}}
	m.WriteFile("orders.yaml", extra.YAML())
	// Clusters went out and are not answered: STALE. No load assignment
	// changed (only changed ones are sent, and the new cluster's goes out
	// when Envoy asks for it): SYNCED. The new route table is held back
	// until the proxy has the clusters it names (make before break):
	// nothing unanswered, so SYNCED, and waiting.
	changed := map[string]string{"CDS": "STALE", "EDS": "SYNCED", "RDS": "SYNCED", "LDS": "SYNCED", "SDS": "SYNCED"}
	err = harness.Eventually(converge, 100*time.Millisecond, func() error {
		var err error
		if rows, err = proxyStatus(t, m); err != nil {
			return err
		}
		if err := wantStates(rows, "catalogue-v1."+ns, synced); err != nil {
			return err
		}
		if err := wantStates(rows, "sleep."+ns, changed); err != nil {
			return err
		}
		if !rows["sleep."+ns].Types["RDS"].Waiting {
			return fmt.Errorf("sleep's RDS is not waiting for the new route table")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := rows["sleep."+ns].Types["CDS"].Description; !regexp.MustCompile(`^STALE \(\d+s\)$`).MatchString(d) {
		t.Errorf("a stale type is described %q, want STALE (<age>)", d)
	}
	one, err := pilotlightCLI(t, m, "proxy-status", "sleep", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(one, "STALE (") || strings.Contains(one, "catalogue-v1") {
		t.Fatalf("proxy-status sleep -n %s:\n%s", ns, one)
	}

	resume()
	err = harness.Eventually(converge, 100*time.Millisecond, func() error {
		rows, err := proxyStatus(t, m)
		if err != nil {
			return err
		}
		return wantStates(rows, "sleep."+ns, synced)
	})
	if err != nil {
		t.Fatal(err)
	}
}
