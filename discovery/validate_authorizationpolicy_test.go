package discovery

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1"
	security "istio.io/api/security/v1beta1"
	"sigs.k8s.io/yaml"
)

// specOf reads a spec written in YAML, as a user writes it.
func specOf[T proto.Message](t *testing.T, spec T, y string) T {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(js, spec); err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	return spec
}

func authorizationPolicy(t *testing.T, spec string) *AuthorizationPolicy {
	return &AuthorizationPolicy{
		Meta: Meta{Kind: "AuthorizationPolicy", Name: "p", Namespace: "shop"},
		Spec: specOf(t, &security.AuthorizationPolicy{}, spec),
	}
}

// checkOne fails unless problems is empty (want "") or holds a problem on
// field whose reason contains want.
func checkOne(t *testing.T, problems []Problem, field, want string) {
	t.Helper()
	if want == "" {
		if len(problems) > 0 {
			t.Errorf("want no problem, got %v", problems)
		}
		return
	}
	for _, p := range problems {
		if p.Field == field && strings.Contains(p.Reason, want) {
			return
		}
	}
	t.Errorf("want a problem on %s containing %q, got %v", field, want, problems)
}

// TestValidateAuthorizationPolicy: Istio's tutorial policies are valid;
// one mistake per invalid case, reported on its field.
func TestValidateAuthorizationPolicy(t *testing.T) {
	cases := []struct {
		name, spec, field, want string
	}{
		{"allow nothing", `{}`, "", ""},
		{"allow all", `rules: [{}]`, "", ""},
		{"deny path", `{action: DENY, rules: [{to: [{operation: {paths: ["/catalogue"]}}]}]}`, "", ""},
		{"every field", `
selector: {matchLabels: {app: catalogue}}
rules:
- from:
  - source:
      principals: ["cluster.local/ns/shop/sa/front-end"]
      notPrincipals: ["*/sa/bad"]
      requestPrincipals: ["https://issuer.example/*"]
      namespaces: [shop]
      ipBlocks: ["10.0.0.0/8", "192.168.1.1"]
      remoteIpBlocks: ["2001:db8::/32"]
  to:
  - operation: {hosts: ["*.example.com"], ports: ["8080"], methods: [GET], paths: ["/api/*", "/users/{*}/orders/{**}"]}
  when:
  - {key: "request.headers[x-user]", values: [alice]}
  - {key: source.ip, notValues: ["10.1.2.3"]}
  - {key: "request.auth.claims[groups][0]", values: [admins]}
  - {key: destination.port, values: ["8080"]}
  - {key: request.auth.audiences, values: [shop]}`, "", ""},
		{"service accounts", `rules: [{from: [{source: {serviceAccounts: [front-end, other/client]}}]}]`, "", ""},

		{"empty source", `rules: [{from: [{source: {}}]}]`, "spec.rules[0].from[0].source", "must not be empty"},
		{"no source", `rules: [{from: [{}]}]`, "spec.rules[0].from[0].source", "required"},
		{"empty operation", `rules: [{to: [{operation: {}}]}]`, "spec.rules[0].to[0].operation", "must not be empty"},
		{"empty value", `rules: [{to: [{operation: {methods: [""]}}]}]`, "spec.rules[0].to[0].operation.methods[0]", "must not be empty"},
		{"bad ip block", `rules: [{from: [{source: {ipBlocks: ["10.0.0.0/33"]}}]}]`, "spec.rules[0].from[0].source.ipBlocks[0]", "not an IP"},
		{"bad port", `rules: [{to: [{operation: {ports: ["http"]}}]}]`, "spec.rules[0].to[0].operation.ports[0]", "not a port"},
		{"port out of range", `rules: [{to: [{operation: {notPorts: ["70000"]}}]}]`, "spec.rules[0].to[0].operation.notPorts[0]", "not a port"},
		{"bad path template", `rules: [{to: [{operation: {paths: ["/{**}/x/{*}"]}}]}]`, "spec.rules[0].to[0].operation.paths[0]", "last operator"},
		{"template not from /", `rules: [{to: [{operation: {paths: ["users/{*}"]}}]}]`, "spec.rules[0].to[0].operation.paths[0]", "must start with /"},
		{"template with an empty segment", `rules: [{to: [{operation: {paths: ["/a//{*}"]}}]}]`, "spec.rules[0].to[0].operation.paths[0]", "empty segment"},
		{"template with a space", `rules: [{to: [{operation: {paths: ["/a b/{*}"]}}]}]`, "spec.rules[0].to[0].operation.paths[0]", "may only hold"},
		{"template with a trailing slash", `rules: [{to: [{operation: {paths: ["/foo/{**}/", "/a:b@c=d/{*}"]}}]}]`, "", ""},
		{"star beside a template", `rules: [{to: [{operation: {paths: ["/a*/{*}"]}}]}]`, "spec.rules[0].to[0].operation.paths[0]", "segment"},
		{"service account wildcard", `rules: [{from: [{source: {serviceAccounts: ["shop/*"]}}]}]`, "spec.rules[0].from[0].source.serviceAccounts[0]", "wildcards"},
		{"service account and namespace", `rules: [{from: [{source: {serviceAccounts: [a], namespaces: [b]}}]}]`, "spec.rules[0].from[0].source.serviceAccounts", "cannot be set with"},
		{"unknown key", `rules: [{when: [{key: request.colour, values: [red]}]}]`, "spec.rules[0].when[0].key", "unknown attribute"},
		{"header without name", `rules: [{when: [{key: "request.headers[]", values: [x]}]}]`, "spec.rules[0].when[0].key", "non-empty"},
		{"header without brackets", `rules: [{when: [{key: request.headers, values: [x]}]}]`, "spec.rules[0].when[0].key", "unknown attribute"},
		{"condition without values", `rules: [{when: [{key: source.ip}]}]`, "spec.rules[0].when[0]", "at least one of values"},
		{"condition bad ip", `rules: [{when: [{key: remote.ip, values: [nowhere]}]}]`, "spec.rules[0].when[0].values[0]", "not an IP"},
		{"condition bad port", `rules: [{when: [{key: destination.port, values: ["0"]}]}]`, "spec.rules[0].when[0].values[0]", "not a port"},
		{"envoy filter attribute", `rules: [{when: [{key: "experimental.envoy.filters.a.b[c]", values: [x]}]}]`, "spec.rules[0].when[0].key", "not supported"},
		{"custom without provider", `{action: CUSTOM, rules: [{}]}`, "spec.provider", "needs a provider"},
		{"provider without custom", `{action: DENY, provider: {name: x}, rules: [{}]}`, "spec.provider", "only be used with action CUSTOM"},
		{"target ref", `{targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}}`, "spec.targetRefs", "not supported"},
		{"header value with newline", `rules: [{to: [{operation: {hosts: ["a\nb"]}}]}]`, "spec.rules[0].to[0].operation.hosts[0]", "CR or LF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkOne(t, ValidateAuthorizationPolicy(authorizationPolicy(t, c.spec)), c.field, c.want)
		})
	}
	dryRun := authorizationPolicy(t, `rules: [{}]`)
	dryRun.Annotations = map[string]string{DryRunAnnotation: "maybe"}
	checkOne(t, ValidateAuthorizationPolicy(dryRun), "metadata.annotations.istio.io/dry-run", `"maybe" is not true or false`)
}

func TestParseConditionKey(t *testing.T) {
	cases := []struct {
		key, attr string
		names     []string
	}{
		{"source.ip", AttrSourceIP, nil},
		{"request.headers[User-Agent]", AttrRequestHeaders, []string{"User-Agent"}},
		{"request.auth.claims[groups]", AttrClaims, []string{"groups"}},
		{"request.auth.claims[nested][key]", AttrClaims, []string{"nested", "key"}},
	}
	for _, c := range cases {
		got, err := ParseConditionKey(c.key)
		if err != nil || got.Attribute != c.attr || strings.Join(got.Names, "|") != strings.Join(c.names, "|") {
			t.Errorf("ParseConditionKey(%q) = %+v, %v; want %s %v", c.key, got, err, c.attr, c.names)
		}
	}
	for _, bad := range []string{"request.headers[a][b]", "request.auth.claims[a]b", "request.auth.claims[a", "source.ip[x]"} {
		if _, err := ParseConditionKey(bad); err == nil {
			t.Errorf("ParseConditionKey(%q): want an error", bad)
		}
	}
}

// TestCheckAuthorizationPolicies: a kept policy that acts differently from
// what it says is reported: CUSTOM, and HTTP-only fields on a TCP port.
func TestCheckAuthorizationPolicies(t *testing.T) {
	db := &Service{Meta: Meta{Name: "db", Namespace: "shop"}, Selector: map[string]string{"app": "db"},
		Ports: []ServicePort{{Name: "tcp-mysql", Port: 3306, Protocol: "TCP"}}}
	web := &Service{Meta: Meta{Name: "web", Namespace: "shop"}, Selector: map[string]string{"app": "web"},
		Ports: []ServicePort{{Name: "http", Port: 80, TargetPortNumber: 8080, Protocol: "TCP"}}}
	snap := &Snapshot{
		Services: []*Service{db, web},
		Pods: []*Pod{
			{Meta: Meta{Name: "db-0", Namespace: "shop", Labels: map[string]string{"app": "db"}}},
			{Meta: Meta{Name: "web-0", Namespace: "shop", Labels: map[string]string{"app": "web"}}},
			{Meta: Meta{Name: "gw-0", Namespace: "shop", Labels: map[string]string{"istio": "ingressgateway"}}},
		},
		Gateways: []*Gateway{{Meta: Meta{Name: "edge", Namespace: "edge"}, Spec: &networking.Gateway{
			Selector: map[string]string{"istio": "ingressgateway"},
			Servers: []*networking.Server{
				{Port: &networking.Port{Number: 80, Name: "http", Protocol: "HTTP"}, Hosts: []string{"*"}},
				{Port: &networking.Port{Number: 9000, Name: "tcp", Protocol: "TCP"}, Hosts: []string{"*"}},
			},
		}}},
	}
	cases := []struct {
		name, spec, field, want string
	}{
		{"L4 fields on TCP", `{selector: {matchLabels: {app: db}}, rules: [{to: [{operation: {ports: ["3306"]}}]}]}`, "", ""},
		{"HTTP fields on HTTP", `{selector: {matchLabels: {app: web}}, rules: [{to: [{operation: {methods: [GET]}}]}]}`, "", ""},
		{"ALLOW paths on TCP", `{selector: {matchLabels: {app: db}}, rules: [{to: [{operation: {paths: ["/x"]}}]}]}`,
			"spec.rules[0]", "to[0].operation.paths only apply to HTTP, and the policy applies to TCP port 3306 of shop/db-0: there the rule is left out"},
		{"DENY header condition namespace-wide", `{action: DENY, rules: [{when: [{key: "request.headers[x]", values: [v]}]}]}`,
			"spec.rules[0]", "when[0] (request.headers[x]) only apply to HTTP, and the policy applies to TCP port 3306 of shop/db-0, 9000 of shop/gw-0: there those fields are ignored"},
		{"paths at a gateway's TCP server", `{selector: {matchLabels: {istio: ingressgateway}}, rules: [{to: [{operation: {paths: ["/x"]}}]}]}`,
			"spec.rules[0]", "to[0].operation.paths only apply to HTTP, and the policy applies to TCP port 9000 of shop/gw-0: there the rule is left out"},
		{"CUSTOM", `{action: CUSTOM, provider: {name: opa}, rules: [{}]}`, "spec.action", `action CUSTOM (provider "opa") is not supported`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := *snap
			s.AuthorizationPolicies = []*AuthorizationPolicy{authorizationPolicy(t, c.spec)}
			checkOne(t, CheckAuthorizationPolicies(&s), c.field, c.want)
		})
	}
}
