package translate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
)

const demoDir = "../examples/sockshop"

func explainDemo(t *testing.T, pod *discovery.Pod, snap *discovery.Snapshot) *Explanation {
	t.Helper()
	_, e := Explain(snap, goldenProxy(pod))
	e.Locate(func(source, field string) string {
		pos, err := folder.FieldPosition(demoDir, source, field)
		if err != nil {
			t.Fatalf("position of %s %s: %v", source, field, err)
		}
		return pos.String()
	})
	return e
}

// Golden explanations of every proxy of the demo mesh.
func TestGoldenExplain(t *testing.T) {
	snap, err := folder.Load(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range snap.Pods {
		var b bytes.Buffer
		if err := explainDemo(t, pod, snap).Text(&b); err != nil {
			t.Fatal(err)
		}
		compareGolden(t, filepath.Join("testdata", "golden", "explain", pod.Namespace+"."+pod.Name+".txt"), b.Bytes())
	}
}

// lineOf finds, independently of the explainer, the line of the n-th
// (1-based) line of a file that contains text.
func lineOf(t *testing.T, file, text string, n int) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(demoDir, file))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, text) {
			if n--; n == 0 {
				return fmt.Sprintf("%s:%d", file, i+1)
			}
		}
	}
	t.Fatalf("%s has no %q", file, text)
	return ""
}

// Every field of the demo's canary route (timeout, retries, an 80/20 split)
// points to the right object, field and line.
func TestExplainCanaryRoute(t *testing.T) {
	snap, err := folder.Load(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	e := explainDemo(t, snap.Pod("sock-shop", "sleep"), snap)
	e.Only(HTTPProxyRouteName)
	if len(e.Resources) != 1 {
		t.Fatalf("route %s: %d resources", HTTPProxyRouteName, len(e.Resources))
	}
	got := map[string]ExplainedField{}
	for _, f := range e.Resources[0].Fields {
		got[f.Path] = f
	}
	const vs, file = "sock-shop/front-end", "40-virtualservice.yaml"
	route := "virtual_hosts[front-end.sock-shop.svc.cluster.local:80].routes[1]."
	tests := []struct {
		path, value, field, position string
	}{
		{"name", "canary", "spec.http[1].name", lineOf(t, file, "- name: canary", 1)},
		{"route.timeout", "5s", "spec.http[1].timeout", lineOf(t, file, "timeout: 5s", 1)},
		{"route.retry_policy", "", "spec.http[1].retries", lineOf(t, file, "retries:", 1)},
		{"route.weighted_clusters.clusters[0].name", "outbound|80|v1|front-end.sock-shop.svc.cluster.local", "spec.http[1].route[0].destination", lineOf(t, file, "- destination:", 2)},
		{"route.weighted_clusters.clusters[0].weight", "80", "spec.http[1].route[0].weight", lineOf(t, file, "weight: 80", 1)},
		{"route.weighted_clusters.clusters[1].name", "outbound|80|v2|front-end.sock-shop.svc.cluster.local", "spec.http[1].route[1].destination", lineOf(t, file, "- destination:", 3)},
		{"route.weighted_clusters.clusters[1].weight", "20", "spec.http[1].route[1].weight", lineOf(t, file, "weight: 20", 1)},
	}
	for _, tt := range tests {
		f, ok := got[route+tt.path]
		if !ok {
			t.Errorf("no explanation of %s%s", route, tt.path)
			continue
		}
		if len(f.From) != 1 {
			t.Errorf("%s: origins %+v, want one", tt.path, f.From)
			continue
		}
		o := f.From[0]
		if o.Kind != "VirtualService" || o.Name != vs || o.Field != tt.field || o.Position != tt.position {
			t.Errorf("%s ← %s, want VirtualService %s %s (%s)", tt.path, o, vs, tt.field, tt.position)
		}
		if tt.value != "" && f.Value != tt.value {
			t.Errorf("%s: value %q, want %q", tt.path, f.Value, tt.value)
		}
	}
	// The retry policy's value is Envoy's, from the rule.
	if v := got[route+"route.retry_policy"].Value; !strings.Contains(v, `"num_retries":3`) || !strings.Contains(v, `"per_try_timeout":"2s"`) {
		t.Errorf("retry_policy value %s", v)
	}
}

// A serving Mesh records nothing: explaining costs only when asked.
func TestServingMeshRecordsNoProvenance(t *testing.T) {
	snap, err := folder.Load(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMesh(snap)
	m.ForProxy(goldenProxy(snap.Pod("sock-shop", "sleep")))
	if m.explain != nil {
		t.Fatal("a serving mesh has a provenance recorder")
	}
	var nothing *provenance
	nothing.note(nil, "x", Origin{Kind: "k"}) // must not panic
}
