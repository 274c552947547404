package e2e

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// authzStep is one policy set: applied, it is in force once probe has the
// outcome want (which differs from the step before, so that the probe
// cannot pass on the old config); then allow and deny are checked.
type authzStep struct {
	name, policies string
	probe          request
	want           string
	allow, deny    []request
	// then checks more, on the mesh with the step's policies.
	then func(t *testing.T, s *securityMesh)
}

// authzSteps are Istio's authorization tutorial cases and every field
// that works without mTLS, in order.
var authzSteps = []authzStep{
	{name: "DENY a path", policies: policy("deny-catalogue", `  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/catalogue"]
`), probe: get("/catalogue"), want: denied,
		deny:  []request{post("/catalogue"), get("/catalogue?size=5")},
		allow: []request{get("/"), get("/catalogue/item"), get("/other")}},

	{name: "ALLOW GET only", policies: policy("allow-get", `  action: ALLOW
  rules:
  - to:
    - operation:
        methods: ["GET"]
`), probe: post("/"), want: denied,
		allow: []request{get("/"), get("/catalogue")},
		deny:  []request{post("/catalogue"), {method: "DELETE", path: "/"}}},

	{name: "allow all", policies: policy("allow-all", "  rules:\n  - {}\n"), probe: post("/"), want: allowed,
		allow: []request{get("/"), {method: "PUT", path: "/x"}}},

	{name: "allow nothing", policies: policy("allow-nothing", ""), probe: get("/"), want: denied,
		deny: []request{post("/"), get("/catalogue")}},

	{name: "DENY is evaluated before ALLOW", policies: policy("allow-all", "  rules:\n  - {}\n") + "---\n" + policy("deny-admin", `  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin/*"]
`), probe: get("/"), want: allowed,
		deny:  []request{get("/admin/users"), post("/admin/x"), get("/public/../admin/users"), get("/%61dmin/users"), get("/./admin/x")},
		allow: []request{get("/administrator"), post("/")}},

	// In istio-system without a selector: every workload of the mesh.
	{name: "root namespace applies mesh-wide", policies: policyIn("istio-system", "block-flagged", `  action: DENY
  rules:
  - when:
    - key: request.headers[x-block]
      values: ["true"]
`), probe: get("/").with("x-block", "true"), want: denied,
		allow: []request{get("/"), get("/").with("x-block", "no")}},

	{name: "no selector applies namespace-wide", policies: policyIn(ns, "namespace-get-only", `  rules:
  - to:
    - operation:
        methods: ["GET", "HEAD"]
`), probe: post("/"), want: denied,
		allow: []request{get("/")}},

	{name: "path forms", policies: policy("paths", `  rules:
  - to:
    - operation:
        paths: ["/exact", "/api/*", "*.png", "/users/{*}/orders/{**}"]
`), probe: get("/"), want: denied,
		allow: []request{get("/exact"), get("/api/v1/items"), get("/img/logo.png"), get("/users/42/orders/7/lines"), get("/exact?x=1")},
		deny:  []request{get("/exact/more"), get("/apis"), get("/img/logo.jpg"), get("/users/42/43/orders/7")}},

	{name: "notPaths and notMethods", policies: policy("not-fields", `  action: DENY
  rules:
  - to:
    - operation:
        notPaths: ["/public/*"]
        notMethods: ["GET"]
`), probe: get("/private"), want: allowed,
		allow: []request{post("/public/form")},
		deny:  []request{post("/private")}},

	{name: "hosts and ports", policies: hostPort("catalogue.sock-shop", "8080"), probe: post("/"), want: allowed},
	{name: "ports", policies: hostPort("catalogue.sock-shop", "9999"), probe: post("/"), want: denied},
	{name: "host prefix, case-insensitive", policies: hostPort("CATALOGUE.*", "8080"), probe: post("/"), want: allowed},
	{name: "host suffix", policies: hostPort("*.example.com", "8080"), probe: post("/"), want: denied},

	{name: "when request.headers", policies: policy("users", `  rules:
  - when:
    - key: request.headers[x-user]
      values: ["alice", "team-*"]
      notValues: ["team-banned"]
`), probe: get("/").with("x-user", "alice"), want: allowed,
		allow: []request{get("/").with("x-user", "team-blue")},
		deny:  []request{get("/"), get("/").with("x-user", "bob"), get("/").with("x-user", "team-banned")}},

	// Every client here connects from 127.0.0.1 (local mode), which ipBlocks
	// (the peer address, source.ip) see; remoteIpBlocks see the client
	// X-Forwarded-For names, its last address as Envoy reads it without
	// trusted hops.
	{name: "ipBlocks elsewhere", policies: ipPolicy(`  - from:
    - source:
        ipBlocks: ["10.0.0.0/8"]
`), probe: get("/").with("x-user", "alice"), want: denied},
	{name: "ipBlocks", policies: ipPolicy(`  - from:
    - source:
        ipBlocks: ["127.0.0.0/8"]
        notIpBlocks: ["127.0.0.2"]
`), probe: get("/"), want: allowed},
	{name: "source.ip", policies: ipPolicy(`  - when:
    - key: source.ip
      notValues: ["127.0.0.1"]
`), probe: get("/"), want: denied},
	{name: "remoteIpBlocks", policies: policy("remote-ip", `  action: DENY
  rules:
  - from:
    - source:
        remoteIpBlocks: ["203.0.113.0/24"]
`), probe: get("/"), want: allowed,
		deny:  []request{get("/").with("x-forwarded-for", "203.0.113.7"), get("/").with("x-forwarded-for", "10.1.1.1, 203.0.113.9")},
		allow: []request{get("/").with("x-forwarded-for", "198.51.100.1"), get("/").with("x-forwarded-for", "203.0.113.9, 10.1.1.1")}},

	// AUDIT is Envoy's LOG action: a match only marks the request for the
	// access log (dynamic metadata access_log_hint); it never denies.
	{name: "AUDIT lets through", policies: policy("audit-deletes", `  action: AUDIT
  rules:
  - to:
    - operation:
        methods: ["DELETE"]
`), probe: get("/").with("x-forwarded-for", "203.0.113.7"), want: allowed,
		allow: []request{{method: "DELETE", path: "/x"}}, then: checkAuditAction},

	{name: "CUSTOM denies what its rules match", policies: policy("ext-authz", `  action: CUSTOM
  provider:
    name: opa
  rules:
  - to:
    - operation:
        paths: ["/admin/*"]
`), probe: get("/admin/x"), want: denied,
		allow: []request{get("/")},
		then: func(t *testing.T, s *securityMesh) {
			waitProblem(t, s.Mesh, "AuthorizationPolicy", ns+"/ext-authz", `action CUSTOM (provider "opa") is not supported`)
		}},
}

// checkAuditAction: Envoy took the AUDIT policy as an RBAC filter with
// action LOG.
func checkAuditAction(t *testing.T, s *securityMesh) {
	dump, err := harness.EnvoyConfigDump(s.app.Admin())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"action": "LOG",\s+"policies": \{\s+"ns\[sock-shop\]-policy\[audit-deletes\]-rule\[0\]"`).Match(dump) {
		t.Errorf("the sidecar's config has no RBAC filter with action LOG and policy ns[sock-shop]-policy[audit-deletes]-rule[0]")
	}
}

func hostPort(host, port string) string {
	return policy("host-port", fmt.Sprintf("  rules:\n  - to:\n    - operation:\n        hosts: [%q]\n        ports: [%q]\n", host, port))
}

func ipPolicy(rules string) string { return policy("ip", "  rules:\n"+rules) }

// TestAuthorizationPolicy: Istio's authorization tutorial cases on real
// Envoy, one policy set after another on one mesh, each checked by what
// the client gets back: the app's 200, or the sidecar's exact 403 with
// body "RBAC: access denied".
func TestAuthorizationPolicy(t *testing.T) {
	s := newSecurityMesh(t, nil)
	s.Start()
	s.waitFor(t, get("/catalogue"), allowed)
	for _, step := range authzSteps {
		t.Run(step.name, func(t *testing.T) {
			s.apply(t, "policy.yaml", step.policies, step.probe, step.want)
			s.check(t, allowed, step.allow...)
			s.check(t, denied, step.deny...)
			if step.then != nil {
				step.then(t, s)
			}
		})
	}

	t.Run("dry-run is evaluated, not enforced", func(t *testing.T) {
		before := s.rbacStat(t, "shadow_denied")
		s.WriteFile("policy.yaml", `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: try-deny
  namespace: sock-shop
  annotations:
    istio.io/dry-run: "true"
spec:
  selector:
    matchLabels:
      app: catalogue
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin/*"]
`)
		// Until the dry-run policy replaces the CUSTOM one, /admin/x is
		// denied; after, it is let through and counted as shadow-denied.
		r := get("/admin/x")
		err := harness.Eventually(converge, 50*time.Millisecond, func() error {
			got := outcome(s.send(t, r))
			if after := s.rbacStat(t, "shadow_denied"); got != allowed || after <= before {
				return fmt.Errorf("%v: %s, rbac shadow_denied %d", r, got, after)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
