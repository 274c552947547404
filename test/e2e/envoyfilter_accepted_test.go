package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestEnvoyFilterGoldenCasesAcceptedByEnvoy serves the EnvoyFilters of
// each envoyfilter-* golden case (translate/testdata/cases) to a real
// catalogue sidecar and ingress gateway, a mesh per case: every patch
// pilotlight applies must be accepted (the harness fails the test on any
// NACK), the ones it refused must stay out, and each case's problems must
// be in /debug/problems. (The two tutorial cases run in their own tests,
// with the rate-limit service.)
func TestEnvoyFilterGoldenCasesAcceptedByEnvoy(t *testing.T) {
	// What each case's applied patches put in the sidecar's and the
	// gateway's config, and what its refused ones would have.
	cases := []struct {
		name                        string
		sidecar, gateway, neverSeen []string
	}{
		{"envoyfilter-http-filter", []string{"early.grpc_stats", "app.grpc_web", "http_local_rate_limiter", "suppress_envoy_headers"},
			[]string{"envoy.filters.http.lua", "envoy.filters.http.header_to_metadata"}, []string{"emit_filter_state"}},
		{"envoyfilter-network-filter", []string{"inbound_connections", "per_connection_buffer_limit_bytes"}, []string{"gateway_limit"}, []string{"too_late", "inbound_limit"}},
		{"envoyfilter-cluster", []string{"zipkin", "65536"}, nil, nil},
		{"envoyfilter-routes", []string{"include_request_attempt_count", `"17s"`}, []string{"status.example.com", "x-served-through", "x-via"}, []string{"catch-all"}},
	}
	for _, tc := range cases {
		name := tc.name
		t.Run(name, func(t *testing.T) {
			m := harness.NewMesh(t, ns)
			m.AddService("catalogue", 80, 8080)
			m.AddService("front-end", 80, 8080)
			catalogue := m.AddPod("catalogue-v1", map[string]string{"app": "catalogue", "version": "v1"})
			gw := harness.AddGatewayIn(m, "istio-system", "ingressgateway", map[string]string{"istio": "ingressgateway"}, rlGatewayPort)
			m.WriteFile("shop-gateway.yaml", rlShopGateway)
			files := caseFiles(t, name, "1*.yaml")
			for _, f := range sortedNames(files) {
				m.WriteFile(f, files[f])
			}
			m.Start()
			gw.Start()
			if err := m.WaitSettled(converge); err != nil {
				t.Fatal(err)
			}
			// Each problem of the case's golden files is reported, by
			// EnvoyFilter and patch.
			want := goldenProblems(t, name)
			err := harness.Eventually(converge, 100*time.Millisecond, func() error {
				_, entries, err := m.Problems()
				if err != nil {
					return err
				}
				for _, w := range want {
					found := false
					for _, e := range entries {
						found = found || (e["name"] == w.name && e["field"] == w.field)
					}
					if !found {
						return fmt.Errorf("no problem for %s %s in /debug/problems: %v", w.name, w.field, entries)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, proxy := range []struct {
				admin string
				want  []string
			}{{catalogue.Admin(), tc.sidecar}, {gw.Admin(), tc.gateway}} {
				dump, err := harness.EnvoyConfigDump(proxy.admin)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range proxy.want {
					if !strings.Contains(string(dump), w) {
						t.Errorf("%s: no %q in its config: an applied patch did not arrive", proxy.admin, w)
					}
				}
				for _, w := range tc.neverSeen {
					if strings.Contains(string(dump), w) {
						t.Errorf("%s: %q is in its config: a refused patch arrived", proxy.admin, w)
					}
				}
			}
		})
	}
}

type goldenProblem struct{ name, field string }

// goldenProblems reads the EnvoyFilter problems a case's golden files list
// ("# - ns/name: EnvoyFilter ns/name: spec.configPatches[i]: …").
func goldenProblems(t *testing.T, name string) []goldenProblem {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenProblem
	seen := map[goldenProblem]bool{}
	for _, body := range globFiles(t, filepath.Join(root, "translate", "testdata", "golden", name), "*.yaml") {
		for _, line := range strings.Split(body, "\n") {
			rest, ok := strings.CutPrefix(line, "# - ")
			if !ok {
				continue
			}
			parts := strings.SplitN(rest, ": ", 4)
			if len(parts) < 4 || !strings.HasPrefix(parts[1], "EnvoyFilter ") {
				continue
			}
			p := goldenProblem{strings.TrimPrefix(parts[1], "EnvoyFilter "), parts[2]}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("golden files of %s list no EnvoyFilter problem", name)
	}
	return out
}
