package e2e

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestAuthorizationPolicyPrincipals: with STRICT mutual TLS, the peer's
// certificate says who calls, and the policies that match on it (the
// principals, namespaces and service accounts of from.source, and the
// source.principal and source.namespace conditions) decide on real
// traffic. Three meshed callers of catalogue, each with an identity of its
// own: front-end and sleep in sock-shop, probe in the namespace other.
func TestAuthorizationPolicyPrincipals(t *testing.T) {
	s := newSecurityMesh(t, map[string]string{"strict.yaml": peerAuthentication("default", "", "STRICT", "")})
	frontEnd := s.AddClient("front-end")
	probe := s.AddClient("probe")
	probe.Namespace = "other"
	s.AddNamespace("other")
	for _, p := range s.Pods {
		p.ServiceAccount = p.Labels["app"]
	}
	s.Start()
	callers := []*harness.Pod{frontEnd, s.client, probe}

	steps := []struct {
		name, spec string
		// allowed: the callers (pod names) that get 200; the others get
		// exactly the RBAC 403.
		allowed []string
	}{
		{"no policy", "", []string{"front-end", "sleep", "probe"}},
		{"ALLOW principals: only front-end's service account", `  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/sock-shop/sa/front-end"]
`, []string{"front-end"}},
		{"ALLOW notPrincipals", `  rules:
  - from:
    - source:
        notPrincipals: ["cluster.local/ns/sock-shop/sa/front-end"]
`, []string{"sleep", "probe"}},
		{"ALLOW namespaces", `  rules:
  - from:
    - source:
        namespaces: ["other"]
`, []string{"probe"}},
		{"DENY notNamespaces", `  action: DENY
  rules:
  - from:
    - source:
        notNamespaces: ["sock-shop"]
`, []string{"front-end", "sleep"}},
		{"ALLOW serviceAccounts", `  rules:
  - from:
    - source:
        serviceAccounts: ["sock-shop/sleep", "other/probe"]
`, []string{"sleep", "probe"}},
		{"ALLOW principals with a prefix wildcard", `  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/sock-shop/*"]
`, []string{"front-end", "sleep"}},
		{"ALLOW when source.principal", `  rules:
  - when:
    - key: source.principal
      values: ["cluster.local/ns/sock-shop/sa/sleep"]
`, []string{"sleep"}},
		{"DENY when source.namespace", `  action: DENY
  rules:
  - when:
    - key: source.namespace
      values: ["other"]
`, []string{"front-end", "sleep"}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.spec != "" {
				s.WriteFile("policy.yaml", policy("by-peer", step.spec))
			}
			want := map[*harness.Pod]string{}
			for _, c := range callers {
				want[c] = denied
				if slices.Contains(step.allowed, c.Name) {
					want[c] = allowed
				}
			}
			s.waitUntil(t, func() error {
				var wrong []string
				for _, c := range callers {
					if got := outcome(sendFrom(t, c, get("/"))); got != want[c] {
						wrong = append(wrong, fmt.Sprintf("%s: %s, want %s", c.Key(), got, want[c]))
					}
				}
				if len(wrong) > 0 {
					return fmt.Errorf("%s", strings.Join(wrong, "; "))
				}
				return nil
			})
			// Every caller gets the same outcome on every request, and the
			// app saw the allowed callers' identities over mTLS.
			for _, c := range callers {
				for i := 0; i < 3; i++ {
					a := sendFrom(t, c, get("/"))
					if got := outcome(a); got != want[c] {
						t.Errorf("%s, request %d: %s, want %s", c.Key(), i, got, want[c])
					}
					spiffe := fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/%s", c.Namespace, c.ServiceAccount)
					if want[c] == allowed && !strings.Contains(a.Echo.Headers[xfcc], "URI="+spiffe) {
						t.Errorf("%s: the app saw %s %q, want URI=%s", c.Key(), xfcc, a.Echo.Headers[xfcc], spiffe)
					}
				}
			}
		})
	}
	if n := s.rbacStat(t, "denied"); n == 0 {
		t.Error("catalogue's sidecar counted no RBAC denial")
	}
}

// TestAuthorizationPolicyPrincipalsTCP: on a TCP port under STRICT mTLS,
// the network RBAC filter reads the caller's certificate too: a caller
// that the principals leave out has its connection closed.
func TestAuthorizationPolicyPrincipalsTCP(t *testing.T) {
	m, app := tcpEchoMesh(t)
	frontEnd, sleep := m.AddClient("front-end"), m.AddClient("sleep")
	for _, p := range m.Pods {
		p.ServiceAccount = p.Labels["app"]
	}
	m.WriteFile("strict.yaml", peerAuthentication("default", "", "STRICT", ""))
	m.WriteFile("policy.yaml", policyIn(ns, "front-end-only", `  selector:
    matchLabels:
      app: tcp-echo
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/sock-shop/sa/front-end"]
`))
	m.Start()
	harness.StartStreamApp(m, app, tcpEchoPort, "tcp", "", "")
	dial := func(p *harness.Pod) error {
		_, err := harness.DialStream(net.JoinHostPort(p.Local, strconv.Itoa(tcpEchoPort)), nil)
		return err
	}
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		if err := dial(frontEnd); err != nil {
			return fmt.Errorf("front-end: %v", err)
		}
		if dial(sleep) == nil {
			return fmt.Errorf("sleep connected")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("want front-end connected and sleep refused: %v", err)
	}
	for i := 0; i < 5; i++ {
		if err := dial(frontEnd); err != nil {
			t.Errorf("front-end, connection %d: %v", i, err)
		}
		if dial(sleep) == nil {
			t.Errorf("sleep, connection %d: connected, want it closed", i)
		}
	}
	if stats, err := harness.EnvoyStats(app.Admin(), `^tcp\.rbac\.denied$`); err != nil || stats["tcp.rbac.denied"] == 0 {
		t.Errorf("tcp.rbac.denied: %v, %v; want the denials counted", stats, err)
	}
}
