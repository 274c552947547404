package ratelimit

import (
	"strings"
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rlsconf "github.com/envoyproxy/go-control-plane/ratelimit/config/ratelimit/v3"
	"google.golang.org/protobuf/encoding/protojson"
	networking "istio.io/api/networking/v1"

	rl "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/discovery"
)

func strPtr(s string) *string { return &s }

// plans is the tutorial's case as a policy: BASIC 1/min and PLUS 2/min per
// account, plus a rule for every other kind of match.
func plans() *discovery.RateLimitPolicy {
	account := rl.HeaderMatch{Name: "x-account", Type: rl.Distinct}
	return &discovery.RateLimitPolicy{
		Meta: discovery.Meta{Kind: rl.Kind, Name: "plans", Namespace: "istio-system"},
		Spec: &rl.RateLimitPolicySpec{Global: &rl.GlobalRateLimit{Rules: []rl.Rule{
			{ClientSelectors: []rl.ClientSelector{{Headers: []rl.HeaderMatch{{Name: "x-plan", Value: strPtr("BASIC")}, account}}}, Limit: rl.Limit{Requests: 1, Unit: rl.Minute}},
			{ClientSelectors: []rl.ClientSelector{{Headers: []rl.HeaderMatch{{Name: "x-plan", Value: strPtr("PLUS")}, account}}}, Limit: rl.Limit{Requests: 2, Unit: rl.Minute}},
			{ClientSelectors: []rl.ClientSelector{
				{SourceCIDR: &rl.SourceMatch{Value: "10.1.2.3/16", Type: rl.Distinct}},
				{Path: &rl.PathMatch{Value: "/api/v1"}, Methods: []string{"GET", "HEAD"}},
				{Headers: []rl.HeaderMatch{{Name: "x-user", Type: rl.RegularExpression, Value: strPtr("bot-.*"), Invert: true}}},
			}, Limit: rl.Limit{Requests: 100, Unit: rl.Hour}},
			{Limit: rl.Limit{Requests: 1000, Unit: rl.Second}},
		}}},
	}
}

// actionEntry is the descriptor entry an Envoy action produces: its key,
// and its value when the action fixes one ("" when the request supplies it).
func actionEntry(t *testing.T, a *route.RateLimit_Action) (key, value string) {
	switch s := a.ActionSpecifier.(type) {
	case *route.RateLimit_Action_GenericKey_:
		return s.GenericKey.DescriptorKey, s.GenericKey.DescriptorValue
	case *route.RateLimit_Action_RequestHeaders_:
		return s.RequestHeaders.DescriptorKey, ""
	case *route.RateLimit_Action_HeaderValueMatch_:
		return s.HeaderValueMatch.DescriptorKey, s.HeaderValueMatch.DescriptorValue
	case *route.RateLimit_Action_MaskedRemoteAddress_:
		return "masked_remote_address", "(masked)"
	case *route.RateLimit_Action_RemoteAddress_:
		return "remote_address", ""
	}
	t.Fatalf("unexpected action %T", a.ActionSpecifier)
	return "", ""
}

// TestBothSidesAgree: for every rule, the rate-limit service's descriptor
// path is, key by key and value by value, what the Envoy filter's actions
// send, and the limit sits at its end.
func TestBothSidesAgree(t *testing.T) {
	p := plans()
	filter := GlobalConfig(p, "outbound|8081||ratelimit.pilotlight-system.svc.cluster.local")
	configs := ServiceConfigs(&discovery.Snapshot{RateLimitPolicies: []*discovery.RateLimitPolicy{p}})
	if len(configs) != 1 || configs[0].Domain != filter.Domain || configs[0].Name != "istio-system/plans" {
		t.Fatalf("configs %v, filter domain %q", configs, filter.Domain)
	}
	if len(filter.RateLimits) != len(p.Spec.Global.Rules) || len(configs[0].Descriptors) != len(p.Spec.Global.Rules) {
		t.Fatalf("%d rules, %d rate_limits, %d descriptors", len(p.Spec.Global.Rules), len(filter.RateLimits), len(configs[0].Descriptors))
	}
	for i, r := range p.Spec.Global.Rules {
		node := configs[0].Descriptors[i]
		var last *rlsconf.RateLimitDescriptor
		for j, a := range filter.RateLimits[i].Actions {
			if node == nil {
				t.Fatalf("rule %d: the service's descriptor ends before action %d", i, j)
			}
			key, value := actionEntry(t, a)
			if node.Key != key || (value != "(masked)" && node.Value != value) {
				t.Errorf("rule %d action %d sends %s=%q, the service expects %s=%q", i, j, key, value, node.Key, node.Value)
			}
			last = node
			node = nil
			if len(last.Descriptors) == 1 {
				node = last.Descriptors[0]
			}
		}
		if node != nil || last.RateLimit == nil {
			t.Fatalf("rule %d: the service's descriptor is longer than the actions, or has no limit at the end", i)
		}
		if last.RateLimit.RequestsPerUnit != r.Limit.Requests || last.RateLimit.Unit != serviceUnit(r.Limit.Unit) {
			t.Errorf("rule %d: limit %v, want %d per %s", i, last.RateLimit, r.Limit.Requests, r.Limit.Unit)
		}
	}
	// The masked address is the CIDR's network, as Envoy renders it.
	if got := configs[0].Descriptors[2].Descriptors[0].Value; got != "10.1.0.0/16" {
		t.Errorf("masked_remote_address value %q, want 10.1.0.0/16", got)
	}
}

// TestFilterConfigsAreValid: what we build passes Envoy's own constraints.
func TestFilterConfigsAreValid(t *testing.T) {
	p := plans()
	if err := GlobalConfig(p, "c").ValidateAll(); err != nil {
		t.Errorf("global: %v", err)
	}
	p.Spec.Local = &rl.LocalRateLimit{Rules: p.Spec.Global.Rules}
	local := LocalConfig(p)
	if err := local.ValidateAll(); err != nil {
		t.Errorf("local: %v", err)
	}
	js, _ := protojson.Marshal(local)
	for _, want := range []string{`"x-local-rate-limit"`, `"fillInterval":"60s"`, `"numerator":100`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("local config lacks %s: %s", want, js)
		}
	}
	// No default bucket: a request no rule counts is never limited.
	if local.TokenBucket != nil {
		t.Errorf("local config has a default token bucket %v", local.TokenBucket)
	}
}

// TestPoliciesForAProxy: selectors pick pods of the policy's namespace;
// targetRefs pick the gateway pods of a Gateway, on its server ports.
func TestPoliciesForAProxy(t *testing.T) {
	gwPod := &discovery.Pod{Meta: discovery.Meta{Name: "ingress", Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}}
	app := &discovery.Pod{Meta: discovery.Meta{Name: "catalogue-v1", Namespace: "sock-shop", Labels: map[string]string{"app": "catalogue"}}}
	gwYAML := &discovery.Gateway{Meta: discovery.Meta{Name: "shop", Namespace: "istio-system"}}
	gwYAML.Spec = gatewaySpec(map[string]string{"istio": "ingressgateway"}, 80)
	policy := func(ns, name string, spec rl.RateLimitPolicySpec) *discovery.RateLimitPolicy {
		return &discovery.RateLimitPolicy{Meta: discovery.Meta{Name: name, Namespace: ns}, Spec: &spec}
	}
	snap := &discovery.Snapshot{Gateways: []*discovery.Gateway{gwYAML}, RateLimitPolicies: []*discovery.RateLimitPolicy{
		policy("istio-system", "by-ref", rl.RateLimitPolicySpec{TargetRefs: []rl.TargetRef{{Kind: "Gateway", Name: "shop"}}}),
		policy("istio-system", "by-label", rl.RateLimitPolicySpec{Selector: &rl.WorkloadSelector{MatchLabels: map[string]string{"istio": "ingressgateway"}}}),
		policy("sock-shop", "catalogue", rl.RateLimitPolicySpec{Selector: &rl.WorkloadSelector{MatchLabels: map[string]string{"app": "catalogue"}}}),
		policy("sock-shop", "whole-namespace", rl.RateLimitPolicySpec{}),
	}}
	names := func(ps []*discovery.RateLimitPolicy) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		pod     *discovery.Pod
		gateway bool
		port    uint32
		want    string
	}{
		{gwPod, true, 80, "by-ref,by-label"},
		{gwPod, true, 8443, "by-label"},
		{app, false, 8080, "catalogue,whole-namespace"},
	} {
		if got := names(snap.RateLimitPoliciesFor(tc.pod, tc.gateway, tc.port)); got != tc.want {
			t.Errorf("%s port %d: %q, want %q", tc.pod.Name, tc.port, got, tc.want)
		}
	}
}

func gatewaySpec(selector map[string]string, port uint32) *networking.Gateway {
	return &networking.Gateway{Selector: selector, Servers: []*networking.Server{{
		Port: &networking.Port{Number: port, Name: "http", Protocol: "HTTP"}, Hosts: []string{"*"},
	}}}
}
