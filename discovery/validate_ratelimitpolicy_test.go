package discovery

import (
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rl "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
)

func strPtr(s string) *string { return &s }

func perMinute(n uint32) rl.Limit { return rl.Limit{Requests: n, Unit: rl.Minute} }

// TestValidateRateLimitPolicy: one mistake per case, reported on its field.
func TestValidateRateLimitPolicy(t *testing.T) {
	services := []*Service{
		{Meta: Meta{Name: "ratelimit", Namespace: "pilotlight-system"}, Hostname: "ratelimit.pilotlight-system.svc.cluster.local", Ports: []ServicePort{{Name: "grpc", Port: 8081}}},
		{Meta: Meta{Name: "ratelimit", Namespace: "rate-limit"}, Hostname: "ratelimit.rate-limit.svc.cluster.local", Ports: []ServicePort{{Name: "grpc", Port: 8081}}},
	}
	gateways := []*Gateway{{Meta: Meta{Name: "shop", Namespace: "istio-system"}, Spec: &networking.Gateway{}}}
	header := func(name string, typ rl.MatchType, value *string) rl.ClientSelector {
		return rl.ClientSelector{Headers: []rl.HeaderMatch{{Name: name, Type: typ, Value: value}}}
	}
	rule := func(s ...rl.ClientSelector) []rl.Rule { return []rl.Rule{{ClientSelectors: s, Limit: perMinute(1)}} }
	global := func(rules []rl.Rule) *rl.GlobalRateLimit { return &rl.GlobalRateLimit{Rules: rules} }
	cases := []struct {
		name        string
		spec        rl.RateLimitPolicySpec
		field, want string
	}{
		{"local on a workload", rl.RateLimitPolicySpec{Selector: &rl.WorkloadSelector{MatchLabels: map[string]string{"app": "catalogue"}},
			Local: &rl.LocalRateLimit{Rules: []rl.Rule{{Limit: rl.Limit{Requests: 10, Unit: rl.Minute}}}}}, "", ""},
		{"global plans", rl.RateLimitPolicySpec{Global: global(rule(rl.ClientSelector{Headers: []rl.HeaderMatch{
			{Name: "x-plan", Value: strPtr("BASIC")}, {Name: "x-account", Type: rl.Distinct}}}))}, "", ""},
		{"global on a named service", rl.RateLimitPolicySpec{Global: &rl.GlobalRateLimit{Service: "ratelimit.rate-limit:8081", Rules: rule()}}, "", ""},
		{"gateway target", rl.RateLimitPolicySpec{TargetRefs: []rl.TargetRef{{Kind: "Gateway", Name: "shop"}}, Global: global(rule())}, "", ""},
		{"every kind of match", rl.RateLimitPolicySpec{Local: &rl.LocalRateLimit{Rules: rule(
			rl.ClientSelector{SourceCIDR: &rl.SourceMatch{Value: "10.0.0.0/8", Type: rl.Distinct}},
			rl.ClientSelector{Path: &rl.PathMatch{Type: rl.PathPrefix, Value: "/api"}, Methods: []string{"GET", "POST"}},
			header("x-user", rl.RegularExpression, strPtr("a.*")))}}, "", ""},

		{"nothing to limit", rl.RateLimitPolicySpec{}, "spec", "local, global"},
		{"no rules", rl.RateLimitPolicySpec{Local: &rl.LocalRateLimit{}}, "spec.local.rules", "at least one"},
		{"zero requests", rl.RateLimitPolicySpec{Local: &rl.LocalRateLimit{Rules: []rl.Rule{{Limit: rl.Limit{Unit: rl.Second}}}}}, "spec.local.rules[0].limit.requests", "at least 1"},
		{"unknown unit", rl.RateLimitPolicySpec{Local: &rl.LocalRateLimit{Rules: []rl.Rule{{Limit: rl.Limit{Requests: 1, Unit: "Fortnight"}}}}}, "spec.local.rules[0].limit.unit", "Fortnight"},
		{"selector and targetRefs", rl.RateLimitPolicySpec{Selector: &rl.WorkloadSelector{}, TargetRefs: []rl.TargetRef{{Kind: "Gateway", Name: "shop"}}, Global: global(rule())}, "spec.targetRefs", "not both"},
		{"target not a gateway", rl.RateLimitPolicySpec{TargetRefs: []rl.TargetRef{{Kind: "Service", Name: "shop"}}, Global: global(rule())}, "spec.targetRefs[0]", "only Istio Gateways"},
		{"missing gateway", rl.RateLimitPolicySpec{TargetRefs: []rl.TargetRef{{Kind: "Gateway", Name: "nope"}}, Global: global(rule())}, "spec.targetRefs[0].name", "no Gateway"},
		{"exact without value", rl.RateLimitPolicySpec{Global: global(rule(header("x-plan", "", nil)))}, "spec.global.rules[0].clientSelectors[0].headers[0].value", "required"},
		{"distinct with value", rl.RateLimitPolicySpec{Global: global(rule(header("x-plan", rl.Distinct, strPtr("x"))))}, "spec.global.rules[0].clientSelectors[0].headers[0].value", "takes no value"},
		{"bad regex", rl.RateLimitPolicySpec{Global: global(rule(header("x-plan", rl.RegularExpression, strPtr("("))))}, "spec.global.rules[0].clientSelectors[0].headers[0].value", "RE2"},
		{"upper-case header", rl.RateLimitPolicySpec{Global: global(rule(header("X-Plan", rl.Distinct, nil)))}, "spec.global.rules[0].clientSelectors[0].headers[0].name", "lower case"},
		{"pseudo header", rl.RateLimitPolicySpec{Global: global(rule(header(":path", rl.Distinct, nil)))}, "spec.global.rules[0].clientSelectors[0].headers[0].name", "pseudo-header"},
		{"unknown match type", rl.RateLimitPolicySpec{Global: global(rule(header("x-plan", "Fuzzy", strPtr("x"))))}, "spec.global.rules[0].clientSelectors[0].headers[0].type", "Fuzzy"},
		{"empty selector", rl.RateLimitPolicySpec{Global: global(rule(rl.ClientSelector{}))}, "spec.global.rules[0].clientSelectors[0]", "empty selector"},
		{"bad cidr", rl.RateLimitPolicySpec{Global: global(rule(rl.ClientSelector{SourceCIDR: &rl.SourceMatch{Value: "10.0.0.0"}}))}, "spec.global.rules[0].clientSelectors[0].sourceCIDR.value", "not a CIDR"},
		{"relative path", rl.RateLimitPolicySpec{Global: global(rule(rl.ClientSelector{Path: &rl.PathMatch{Value: "api"}}))}, "spec.global.rules[0].clientSelectors[0].path.value", "starts with /"},
		{"bad method", rl.RateLimitPolicySpec{Global: global(rule(rl.ClientSelector{Methods: []string{"GE T"}}))}, "spec.global.rules[0].clientSelectors[0].methods[0]", "not an HTTP method"},
		{"no such service", rl.RateLimitPolicySpec{Global: &rl.GlobalRateLimit{Service: "nope.default:8081", Rules: rule()}}, "spec.global.service", "no service nope.default.svc.cluster.local"},
		{"no such port", rl.RateLimitPolicySpec{Global: &rl.GlobalRateLimit{Service: "ratelimit.rate-limit:9", Rules: rule()}}, "spec.global.service", "no port 9"},
		{"service without port", rl.RateLimitPolicySpec{Global: &rl.GlobalRateLimit{Service: "ratelimit.rate-limit", Rules: rule()}}, "spec.global.service", "host:port"},
		{"failure mode", rl.RateLimitPolicySpec{Global: &rl.GlobalRateLimit{FailureMode: "Maybe", Rules: rule()}}, "spec.global.failureMode", "Maybe"},
		{"zero timeout", rl.RateLimitPolicySpec{Global: &rl.GlobalRateLimit{Timeout: &metav1.Duration{Duration: -time.Second}, Rules: rule()}}, "spec.global.timeout", "positive"},
		{"bad response header", rl.RateLimitPolicySpec{Local: &rl.LocalRateLimit{Rules: rule(), ResponseHeaders: []rl.Header{{Name: "x-a", Value: "b\nc"}}}}, "spec.local.responseHeaders[0].value", "CR or LF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			p := &RateLimitPolicy{Meta: Meta{Name: "p", Namespace: "istio-system"}, Spec: &spec}
			problems := ValidateRateLimitPolicy(p, services, gateways)
			if tc.field == "" {
				if len(problems) > 0 {
					t.Fatalf("want no problems, got %v", problems)
				}
				return
			}
			for _, pr := range problems {
				if pr.Field == tc.field && strings.Contains(pr.Reason, tc.want) && pr.Kind == "RateLimitPolicy" && pr.Name == "istio-system/p" {
					return
				}
			}
			t.Fatalf("want a problem on %s saying %q, got %v", tc.field, tc.want, problems)
		})
	}
}
