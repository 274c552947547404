package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
)

// TestEnvoyFilterLeavesSharedResourcesAlone: a patch on one proxy's view
// does not change the clusters and route tables other proxies share.
func TestEnvoyFilterLeavesSharedResourcesAlone(t *testing.T) {
	snap, err := folder.Load("testdata/cases/envoyfilter-cluster")
	if err != nil {
		t.Fatal(err)
	}
	mesh := NewMesh(snap)
	var sidecar, gateway Proxy
	for _, pod := range snap.Pods {
		if p := goldenProxy(pod); p.Type == Router {
			gateway = p
		} else {
			sidecar = p
		}
	}
	mesh.ForProxy(sidecar) // merges connect_timeout 2s into front-end's cluster
	for _, c := range append(mesh.outboundClusters(), mesh.ForProxy(gateway).Clusters...) {
		if got := c.GetConnectTimeout().AsDuration(); got != connectTimeout {
			t.Errorf("%s: connect_timeout %v, want the translated %v", c.Name, got, connectTimeout)
		}
	}
}

// TestPatchProblemsAcrossProxies: a patch is reported as matching nothing
// only when it matched nothing in every proxy it applies to; rejections
// are reported with the proxies they happened on.
func TestPatchProblemsAcrossProxies(t *testing.T) {
	a, b := PatchKey{"istio-system/f", 0}, PatchKey{"istio-system/f", 1}
	got := PatchProblems(map[string][]PatchResult{
		"sidecar~1": {{PatchKey: a, Matched: true}, {PatchKey: b}},
		"sidecar~2": {{PatchKey: a}, {PatchKey: b, Rejected: []string{"listener x: bad"}}},
		"sidecar~3": {{PatchKey: a}, {PatchKey: b}},
	})
	if len(got) != 1 || got[0].Field != "spec.configPatches[1]" || !strings.Contains(got[0].Reason, "sidecar~2") || !strings.Contains(got[0].Reason, "listener x: bad") {
		t.Fatalf("problems %v", got)
	}
	got = PatchProblems(map[string][]PatchResult{"sidecar~1": {{PatchKey: b}}, "sidecar~2": {{PatchKey: b}}})
	if len(got) != 1 || !strings.Contains(got[0].Reason, "matched nothing in the config of proxies [sidecar~1 sidecar~2]") {
		t.Fatalf("problems %v", got)
	}
}

// TestMergeReplacesWellKnownTypes: durations and wrappers are replaced,
// lists appended, messages merged field by field.
func TestMergeReplacesWellKnownTypes(t *testing.T) {
	dst := &cluster.Cluster{
		ConnectTimeout:                durationpb.New(1500 * time.Millisecond),
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(10),
		CircuitBreakers:               &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{{MaxRetries: wrapperspb.UInt32(1)}}},
		DnsLookupFamily:               cluster.Cluster_V4_ONLY,
	}
	mergeInto(dst, &cluster.Cluster{
		ConnectTimeout:  durationpb.New(5 * time.Second),
		CircuitBreakers: &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{{MaxRetries: wrapperspb.UInt32(2)}}},
	})
	switch {
	case dst.ConnectTimeout.AsDuration() != 5*time.Second:
		t.Errorf("connect_timeout %v, want 5s (replaced, not 5.5s)", dst.ConnectTimeout.AsDuration())
	case dst.PerConnectionBufferLimitBytes.GetValue() != 10 || dst.DnsLookupFamily != cluster.Cluster_V4_ONLY:
		t.Errorf("fields the patch does not set changed: %v", dst)
	case len(dst.CircuitBreakers.Thresholds) != 2:
		t.Errorf("thresholds %v, want both (lists are appended)", dst.CircuitBreakers.Thresholds)
	}
}

// TestCompileEnvoyFilterProblems: a value that is not Envoy config (a
// misspelt field, an unknown type) leaves the whole EnvoyFilter out, with
// the patch it is in; so does a selector that matches no pod (reported).
func TestCompileEnvoyFilterProblems(t *testing.T) {
	snap := mustLoadFiles(t, map[string]string{"f.yaml": `
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: typo, namespace: istio-system}
spec:
  configPatches:
  - applyTo: CLUSTER
    patch:
      operation: ADD
      value: {name: x, conect_timeout: 1s}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: unknown-type, namespace: istio-system}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    patch:
      operation: INSERT_FIRST
      value:
        name: x
        typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: nobody, namespace: sock-shop}
spec:
  workloadSelector: {labels: {app: nobody}}
  configPatches:
  - applyTo: HTTP_FILTER
    patch:
      operation: REMOVE
`, "pod.yaml": `
apiVersion: v1
kind: Pod
metadata: {name: catalogue-v1, namespace: sock-shop, labels: {app: catalogue}}
status: {podIP: 127.40.0.3}
`})
	c := compileEnvoyFilters(snap)
	if len(c.filters) != 1 || c.filters[0].filter.Name != "nobody" {
		t.Errorf("kept %d filters, want only nobody", len(c.filters))
	}
	want := map[string]string{
		"istio-system/typo":         `unknown field "conect_timeout"`,
		"istio-system/unknown-type": "envoy.extensions.filters.http.nope.v3.Nope",
		"sock-shop/nobody":          "selects no pod",
	}
	for _, p := range c.problems {
		if w, ok := want[p.Name]; ok && strings.Contains(p.Reason, w) {
			delete(want, p.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing problems %v; got %v", want, c.problems)
	}
}

// TestFilterListOperations: Istio's placement of each operation, and old
// names matching current ones.
func TestFilterListOperations(t *testing.T) {
	names := func(fs []*hcm.HttpFilter) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return strings.Join(out, ",")
	}
	chain := func() []*hcm.HttpFilter {
		return []*hcm.HttpFilter{{Name: "envoy.filters.http.fault"}, {Name: "envoy.filters.http.cors"}, {Name: "envoy.filters.http.router"}}
	}
	patch := func(op networking.EnvoyFilter_Patch_Operation, sub string) *envoyFilterPatch {
		filter := &networking.EnvoyFilter_ListenerMatch_FilterMatch{Name: "envoy.filters.network.http_connection_manager"}
		if sub != "" {
			filter.SubFilter = &networking.EnvoyFilter_ListenerMatch_SubFilterMatch{Name: sub}
		}
		return &envoyFilterPatch{op: op, value: &hcm.HttpFilter{Name: "new"}, match: &networking.EnvoyFilter_EnvoyConfigObjectMatch{
			ObjectTypes: &networking.EnvoyFilter_EnvoyConfigObjectMatch_Listener{Listener: &networking.EnvoyFilter_ListenerMatch{
				FilterChain: &networking.EnvoyFilter_ListenerMatch_FilterChainMatch{Filter: filter}}}}}
	}
	cases := []struct {
		op      networking.EnvoyFilter_Patch_Operation
		sub     string
		want    string
		matched bool
	}{
		{networking.EnvoyFilter_Patch_INSERT_BEFORE, "envoy.router", "envoy.filters.http.fault,envoy.filters.http.cors,new,envoy.filters.http.router", true},
		{networking.EnvoyFilter_Patch_INSERT_BEFORE, "", "new,envoy.filters.http.fault,envoy.filters.http.cors,envoy.filters.http.router", true},
		{networking.EnvoyFilter_Patch_INSERT_AFTER, "envoy.fault", "envoy.filters.http.fault,new,envoy.filters.http.cors,envoy.filters.http.router", true},
		{networking.EnvoyFilter_Patch_INSERT_AFTER, "", "envoy.filters.http.fault,envoy.filters.http.cors,envoy.filters.http.router,new", true},
		{networking.EnvoyFilter_Patch_INSERT_FIRST, "envoy.filters.http.cors", "new,envoy.filters.http.fault,envoy.filters.http.cors,envoy.filters.http.router", true},
		{networking.EnvoyFilter_Patch_ADD, "", "envoy.filters.http.fault,envoy.filters.http.cors,envoy.filters.http.router,new", true},
		{networking.EnvoyFilter_Patch_REPLACE, "envoy.cors", "envoy.filters.http.fault,new,envoy.filters.http.router", true},
		{networking.EnvoyFilter_Patch_REMOVE, "envoy.filters.http.fault", "envoy.filters.http.cors,envoy.filters.http.router", true},
		{networking.EnvoyFilter_Patch_REMOVE, "", "envoy.filters.http.fault,envoy.filters.http.cors,envoy.filters.http.router", false},
		{networking.EnvoyFilter_Patch_INSERT_BEFORE, "envoy.filters.http.ext_authz", "envoy.filters.http.fault,envoy.filters.http.cors,envoy.filters.http.router", false},
	}
	for _, tc := range cases {
		p := patch(tc.op, tc.sub)
		got, matched := filterListOp(chain(), p, hasHTTPFilterMatch(p), func(f *hcm.HttpFilter) bool { return httpFilterMatches(p, f) })
		if names(got) != tc.want || matched != tc.matched {
			t.Errorf("%s %q: %s (matched %v), want %s (matched %v)", tc.op, tc.sub, names(got), matched, tc.want, tc.matched)
		}
	}
}

func mustLoadFiles(t *testing.T, files map[string]string) *discovery.Snapshot {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := folder.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}
