package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestVirtualServiceGoldenCasesAcceptedByEnvoy serves every VirtualService
// golden case (translate/testdata/cases/vs-*) to real sidecars at once,
// each case in a namespace of its own (its name instead of bookinfo): every
// match kind, action, header operation and format command, mirror, fault,
// retry policy and CORS policy the cases cover must reach the sidecars and
// be accepted (the harness fails the test on any NACK at cleanup). Two
// clients in vs-match, labelled like the cases' productpage and tester,
// get the two variants of the route table that sourceLabels make. Every
// case but vs-invalid routes reviews by its VirtualService; vs-invalid's
// are all refused, each with a Problem, and reviews keeps its default route.
func TestVirtualServiceGoldenCasesAcceptedByEnvoy(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "translate", "testdata", "cases", "vs-*"))
	if len(dirs) == 0 {
		t.Fatal("no vs-* cases in translate/testdata/cases")
	}
	sort.Strings(dirs)
	m := harness.NewMesh(t, "vs-match")
	var cases []string
	for _, dir := range dirs {
		name := filepath.Base(dir)
		cases = append(cases, name)
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m.WriteFile(name+"/"+filepath.Base(f), strings.ReplaceAll(string(b), "bookinfo", name))
		}
	}
	productpage := m.AddClient("client-productpage")
	productpage.Labels = map[string]string{"app": "productpage", "version": "v1"}
	tester := m.AddClient("client-tester")
	m.Start()
	if err := m.WaitSettled(converge); err != nil {
		t.Fatal(err)
	}

	for _, client := range []*harness.Pod{productpage, tester} {
		err := harness.Eventually(converge, 100*time.Millisecond, func() error {
			first, err := firstRouteNames(client.Admin())
			if err != nil {
				return err
			}
			for _, c := range cases {
				vhost := fmt.Sprintf("reviews.%s.svc.cluster.local:9080", c)
				got, ok := first[vhost]
				switch {
				case !ok:
					return fmt.Errorf("no virtual host %s in the sidecar's routes", vhost)
				case c == "vs-invalid" && got != "default":
					return fmt.Errorf("%s: first route %q, want the default route (every VirtualService there is invalid)", vhost, got)
				case c != "vs-invalid" && got == "default":
					return fmt.Errorf("%s: only the default route, the case's VirtualService is missing", vhost)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("sidecar of %s: %v", client.Key(), err)
		}
	}

	// Problems name vs-invalid's VirtualServices, and only those.
	_, problems, err := m.Problems()
	if err != nil {
		t.Fatal(err)
	}
	invalid := map[string]bool{}
	for _, p := range problems {
		kind, _ := p["kind"].(string)
		name, _ := p["name"].(string)
		switch {
		case kind == "VirtualService" && strings.HasPrefix(name, "vs-invalid/"):
			invalid[name] = true
		case kind == "VirtualService" || kind == "DestinationRule":
			t.Errorf("problem with a case that should be valid: %v", p)
		}
	}
	if len(invalid) < 9 {
		t.Errorf("problems name %d of vs-invalid's VirtualServices, want all 9: %v", len(invalid), invalid)
	}
}

// firstRouteNames reads an Envoy's dynamic route tables and returns, for
// each virtual host, the name of its first route.
func firstRouteNames(admin string) (map[string]string, error) {
	body, err := harness.GetBody("http://" + admin + "/config_dump?resource=dynamic_route_configs")
	if err != nil {
		return nil, err
	}
	var dump struct {
		Configs []struct {
			RouteConfig struct {
				VirtualHosts []struct {
					Name   string `json:"name"`
					Routes []struct {
						Name string `json:"name"`
					} `json:"routes"`
				} `json:"virtual_hosts"`
			} `json:"route_config"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		return nil, fmt.Errorf("config_dump: %v", err)
	}
	out := map[string]string{}
	for _, c := range dump.Configs {
		for _, vh := range c.RouteConfig.VirtualHosts {
			if len(vh.Routes) > 0 {
				out[vh.Name] = vh.Routes[0].Name
			}
		}
	}
	return out, nil
}
