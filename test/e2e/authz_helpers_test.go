package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Shared by the AuthorizationPolicy and RequestAuthentication tests: the
// service catalogue (80 -> 8080) with one pod behind a sidecar, whose
// inbound side enforces the policies, and the client pod sleep.

const (
	catalogueApp = "catalogue-v1"
	// rbacDenied is the body of Envoy's RBAC 403 (rbac_filter.cc).
	rbacDenied = "RBAC: access denied"
)

// The outcomes of a request, told apart by who answered and how.
const (
	allowed         = "allowed (200 from the app)"
	denied          = "denied (403 RBAC: access denied)"
	unauthenticated = "unauthenticated (401 from jwt_authn)"
	// wrongAudience: jwt_authn answers a verified token for other
	// audiences 403, not 401 (Envoy's JwtAudienceNotAllowed).
	wrongAudience = "wrong audience (403 Audiences in Jwt are not allowed)"
)

type securityMesh struct {
	*harness.Mesh
	client, app *harness.Pod
}

// newSecurityMesh builds the mesh with the given config files, without
// starting it.
func newSecurityMesh(t *testing.T, files map[string]string) *securityMesh {
	t.Helper()
	m := harness.NewMesh(t, ns)
	// As Istio's agent runs Envoy: a listener update closes the old
	// connections on their next request instead of over 10 minutes, so a
	// policy change reaches every request within the drain time.
	m.EnvoyArgs = []string{"--drain-strategy", "immediate", "--drain-time-s", "1"}
	m.AddService("catalogue", 80, 8080)
	s := &securityMesh{Mesh: m}
	s.app = m.AddPod(catalogueApp, map[string]string{"app": "catalogue", "version": "v1"})
	s.client = m.AddClient("sleep")
	for _, name := range sortedNames(files) {
		m.WriteFile(name, files[name])
	}
	return s
}

// request is one request through the client's sidecar to catalogue.
type request struct {
	method, path string
	header       http.Header
}

func get(path string) request  { return request{method: http.MethodGet, path: path} }
func post(path string) request { return request{method: http.MethodPost, path: path} }

// with adds a header.
func (r request) with(name, value string) request {
	h := r.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(name, value)
	r.header = h
	return r
}

func (r request) String() string {
	var hs []string
	for name, vs := range r.header {
		v := strings.Join(vs, ",")
		if len(v) > 24 {
			v = v[:24] + "…"
		}
		hs = append(hs, name+": "+v)
	}
	return fmt.Sprintf("%s %s %v", r.method, r.path, hs)
}

func (s *securityMesh) send(t *testing.T, r request) *harness.Answer {
	t.Helper()
	return sendFrom(t, s.client, r)
}

// sendFrom sends a request to catalogue through the sidecar of client.
func sendFrom(t *testing.T, client *harness.Pod, r request) *harness.Answer {
	t.Helper()
	a, err := harness.Do(client.Client(), r.method, "http://catalogue.sock-shop"+r.path, r.header)
	if err != nil {
		t.Fatalf("%s: %v: %v", client.Key(), r, err)
	}
	return a
}

// outcome says who answered: the app, the RBAC filter (exactly its 403
// and body) or jwt_authn (its 401s, "Jwt is expired" and the like, and its
// 403 for audiences); anything else is described as it is.
func outcome(a *harness.Answer) string {
	switch {
	case a.Status == http.StatusOK && a.Echo != nil && a.Echo.Pod == catalogueApp:
		return allowed
	case a.Status == http.StatusForbidden && a.ServedBy == "" && string(a.Body) == rbacDenied:
		return denied
	case a.Status == http.StatusUnauthorized && a.ServedBy == "" && (strings.HasPrefix(string(a.Body), "Jwt") || strings.HasPrefix(string(a.Body), "Jwks")):
		return unauthenticated
	case a.Status == http.StatusForbidden && a.ServedBy == "" && string(a.Body) == "Audiences in Jwt are not allowed":
		return wrongAudience
	}
	return a.String()
}

// check sends each request once and fails the test unless it has the
// wanted outcome.
func (s *securityMesh) check(t *testing.T, want string, rs ...request) {
	t.Helper()
	for _, r := range rs {
		if got := outcome(s.send(t, r)); got != want {
			t.Errorf("%v: %s, want %s", r, got, want)
		}
	}
}

// apply writes a config file, then waits until probe has the outcome want
// (the change has reached the app's sidecar) and the sidecar drained the
// connections of its old listeners, so that every request after it meets
// the new config.
func (s *securityMesh) apply(t *testing.T, file, content string, probe request, want string) {
	t.Helper()
	s.WriteFile(file, content)
	s.waitFor(t, probe, want)
}

func (s *securityMesh) waitFor(t *testing.T, probe request, want string) {
	t.Helper()
	s.waitUntil(t, func() error {
		if got := outcome(s.send(t, probe)); got != want {
			return fmt.Errorf("%v: %s, want %s", probe, got, want)
		}
		return nil
	})
}

// waitUntil waits until probe passes (the change has reached the app's
// sidecar), then until the sidecar drained its old listeners.
func (s *securityMesh) waitUntil(t *testing.T, probe func() error) {
	t.Helper()
	if err := harness.Eventually(converge, 50*time.Millisecond, probe); err != nil {
		t.Fatalf("the config did not take effect: %v", err)
	}
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		stats, err := harness.EnvoyStats(s.app.Admin(), "^listener_manager.total_(filter_chains|listeners)_draining$")
		if err != nil {
			return err
		}
		for name, n := range stats {
			if n > 0 {
				return fmt.Errorf("%s: %d", name, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the app's sidecar did not finish draining: %v", err)
	}
}

// rbacStat is a counter of the inbound RBAC filters of the app's sidecar
// (allowed, denied; shadow_allowed and shadow_denied, which dry-run rules
// count under Istio's istio_dry_run_allow_ or _deny_ prefix).
func (s *securityMesh) rbacStat(t *testing.T, name string) uint64 {
	t.Helper()
	stats, err := harness.EnvoyStats(s.app.Admin(), `^http\.inbound\|8080\|\|\.rbac\.(istio_dry_run_(allow|deny)_\.)?`+name+`$`)
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, v := range stats {
		total += v
	}
	return total
}

// policy is an AuthorizationPolicy for catalogue's pods with this spec
// (YAML lines indented under spec:).
func policy(name, spec string) string {
	return policyIn(ns, name, "  selector:\n    matchLabels:\n      app: catalogue\n"+spec)
}

// policyIn is an AuthorizationPolicy in namespace with this spec.
func policyIn(namespace, name, spec string) string {
	return fmt.Sprintf("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n%s", name, namespace, spec)
}

// waitProblem waits until /debug/problems has an entry for kind name (any
// name when "") whose text contains want.
func waitProblem(t *testing.T, m *harness.Mesh, kind, name, want string) {
	t.Helper()
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		_, entries, err := m.Problems()
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e["kind"] == kind && (name == "" || e["name"] == name) && strings.Contains(fmt.Sprint(e["field"], ": ", e["reason"]), want) {
				return nil
			}
		}
		return fmt.Errorf("no problem of %s %s with %q in %v", kind, name, want, entries)
	})
	if err != nil {
		t.Fatal(err)
	}
}
