package discovery

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/api/type/v1beta1"
)

// TestValidateEnvoyFilter: one mistake per case, reported on its field.
func TestValidateEnvoyFilter(t *testing.T) {
	value, _ := structpb.NewStruct(map[string]any{"name": "envoy.filters.http.lua"})
	httpFilter := func(op networking.EnvoyFilter_Patch_Operation, sub string) *networking.EnvoyFilter_EnvoyConfigObjectPatch {
		filter := &networking.EnvoyFilter_ListenerMatch_FilterMatch{Name: "envoy.filters.network.http_connection_manager"}
		if sub != "" {
			filter.SubFilter = &networking.EnvoyFilter_ListenerMatch_SubFilterMatch{Name: sub}
		}
		return &networking.EnvoyFilter_EnvoyConfigObjectPatch{
			ApplyTo: networking.EnvoyFilter_HTTP_FILTER,
			Match: &networking.EnvoyFilter_EnvoyConfigObjectMatch{
				Context: networking.EnvoyFilter_SIDECAR_INBOUND,
				ObjectTypes: &networking.EnvoyFilter_EnvoyConfigObjectMatch_Listener{Listener: &networking.EnvoyFilter_ListenerMatch{
					FilterChain: &networking.EnvoyFilter_ListenerMatch_FilterChainMatch{Filter: filter}}},
			},
			Patch: &networking.EnvoyFilter_Patch{Operation: op, Value: value},
		}
	}
	with := func(cp *networking.EnvoyFilter_EnvoyConfigObjectPatch, change func(*networking.EnvoyFilter_EnvoyConfigObjectPatch)) *networking.EnvoyFilter_EnvoyConfigObjectPatch {
		change(cp)
		return cp
	}
	cases := []struct {
		name        string
		spec        *networking.EnvoyFilter
		field, want string
	}{
		{"insert before the router", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{
			httpFilter(networking.EnvoyFilter_Patch_INSERT_BEFORE, "envoy.filters.http.router")}}, "", ""},
		{"cluster insert is an add", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{{
			ApplyTo: networking.EnvoyFilter_CLUSTER, Patch: &networking.EnvoyFilter_Patch{Operation: networking.EnvoyFilter_Patch_INSERT_FIRST, Value: value}}}}, "", ""},
		{"remove needs no value", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{
			with(httpFilter(networking.EnvoyFilter_Patch_REMOVE, "envoy.filters.http.cors"), func(cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) { cp.Patch.Value = nil })}}, "", ""},

		{"no patches", &networking.EnvoyFilter{}, "spec.configPatches", "at least one"},
		{"unsupported applyTo", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{{
			ApplyTo: networking.EnvoyFilter_LISTENER_FILTER, Patch: &networking.EnvoyFilter_Patch{Operation: networking.EnvoyFilter_Patch_ADD, Value: value}}}},
			"spec.configPatches[0].applyTo", "LISTENER_FILTER is not supported"},
		{"unsupported operation", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{{
			ApplyTo: networking.EnvoyFilter_ROUTE_CONFIGURATION, Patch: &networking.EnvoyFilter_Patch{Operation: networking.EnvoyFilter_Patch_REMOVE}}}},
			"spec.configPatches[0].patch.operation", "REMOVE is not supported for ROUTE_CONFIGURATION"},
		{"missing value", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{
			with(httpFilter(networking.EnvoyFilter_Patch_INSERT_FIRST, ""), func(cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) { cp.Patch.Value = nil })}},
			"spec.configPatches[0].patch.value", "needs a value"},
		{"wrong match kind", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{
			with(httpFilter(networking.EnvoyFilter_Patch_MERGE, ""), func(cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) {
				cp.ApplyTo = networking.EnvoyFilter_VIRTUAL_HOST
			})}},
			"spec.configPatches[0].match", "match.routeConfiguration"},
		{"proxy version", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{
			with(httpFilter(networking.EnvoyFilter_Patch_MERGE, "envoy.filters.http.router"), func(cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) {
				cp.Match.Proxy = &networking.EnvoyFilter_ProxyMatch{ProxyVersion: `^1\.8.*`}
			})}}, "spec.configPatches[0].match.proxy", "not supported"},
		{"subFilter on a network filter", &networking.EnvoyFilter{ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{
			with(httpFilter(networking.EnvoyFilter_Patch_MERGE, "envoy.filters.http.router"), func(cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) {
				cp.ApplyTo = networking.EnvoyFilter_NETWORK_FILTER
			})}},
			"spec.configPatches[0].match.listener.filterChain.filter.subFilter", "only HTTP_FILTER"},
		{"targetRefs", &networking.EnvoyFilter{TargetRefs: []*v1beta1.PolicyTargetReference{{Kind: "Gateway", Name: "gw"}},
			ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{httpFilter(networking.EnvoyFilter_Patch_INSERT_FIRST, "")}},
			"spec.targetRefs", "not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problems := ValidateEnvoyFilter(&EnvoyFilter{Meta: Meta{Name: "f", Namespace: "istio-system"}, Spec: tc.spec})
			if tc.field == "" {
				if len(problems) > 0 {
					t.Fatalf("want no problems, got %v", problems)
				}
				return
			}
			for _, pr := range problems {
				if pr.Field == tc.field && strings.Contains(pr.Reason, tc.want) && pr.Kind == "EnvoyFilter" {
					return
				}
			}
			t.Fatalf("want a problem on %s saying %q, got %v", tc.field, tc.want, problems)
		})
	}
}

// TestEnvoyFilterScope: root-namespace filters reach every namespace, others
// their own; workloadSelector narrows both.
func TestEnvoyFilterScope(t *testing.T) {
	pod := &Pod{Meta: Meta{Name: "catalogue-v1", Namespace: "sock-shop", Labels: map[string]string{"app": "catalogue"}}}
	cases := []struct {
		ns       string
		selector map[string]string
		want     bool
	}{
		{"istio-system", nil, true},
		{"istio-system", map[string]string{"app": "catalogue"}, true},
		{"istio-system", map[string]string{"app": "front-end"}, false},
		{"sock-shop", nil, true},
		{"other", nil, false},
	}
	for _, tc := range cases {
		f := &EnvoyFilter{Meta: Meta{Name: "f", Namespace: tc.ns}, Spec: &networking.EnvoyFilter{}}
		if tc.selector != nil {
			f.Spec.WorkloadSelector = &networking.WorkloadSelector{Labels: tc.selector}
		}
		if got := f.SelectsPod(DefaultRootNamespace, pod); got != tc.want {
			t.Errorf("EnvoyFilter in %s selecting %v: SelectsPod = %v, want %v", tc.ns, tc.selector, got, tc.want)
		}
	}
}
