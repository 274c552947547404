package folder

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
)

// writeFiles creates a folder holding the given files (path -> content).
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustLoad(t *testing.T, files map[string]string) *discovery.Snapshot {
	t.Helper()
	snap, err := Load(writeFiles(t, files))
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// findProblem returns the first problem about the named object, or fails.
func findProblem(t *testing.T, snap *discovery.Snapshot, kind, name string) discovery.Problem {
	t.Helper()
	for _, p := range snap.Problems {
		if p.Kind == kind && p.Name == name {
			return p
		}
	}
	t.Fatalf("no problem reported for %s %s; problems: %v", kind, name, snap.Problems)
	return discovery.Problem{}
}

func noProblems(t *testing.T, snap *discovery.Snapshot) {
	t.Helper()
	for _, p := range snap.Problems {
		t.Errorf("unexpected problem: %s", p)
	}
}

const catalogue = `
apiVersion: v1
kind: Service
metadata:
  name: catalogue
  namespace: sock-shop
spec:
  selector:
    app: catalogue
  ports:
  - name: http
    port: 80
    targetPort: http
`

const cataloguePods = `
apiVersion: v1
kind: Pod
metadata:
  name: catalogue-v1
  namespace: sock-shop
  labels: {app: catalogue, version: v1}
spec:
  serviceAccountName: catalogue
  containers:
  - name: app
    image: catalogue
    ports:
    - name: http
      containerPort: 8080
status:
  podIP: 10.0.0.2
---
apiVersion: v1
kind: Pod
metadata:
  name: catalogue-v2
  namespace: sock-shop
  labels: {app: catalogue, version: v2}
spec:
  containers:
  - name: app
    image: catalogue
    ports:
    - name: http
      containerPort: 9090
status:
  podIP: 10.0.0.1
  conditions:
  - type: Ready
    status: "False"
`

const catalogueRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: catalogue
  namespace: sock-shop
spec:
  host: catalogue
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
`

func TestLoadDecodesEveryKind(t *testing.T) {
	specs := map[string]string{
		"VirtualService":  "hosts: [catalogue]\n  http:\n  - route:\n    - destination: {host: catalogue}",
		"DestinationRule": "host: catalogue",
		"Gateway":         "servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']",
	}
	count := func(s *discovery.Snapshot, kind string) int {
		switch kind {
		case "VirtualService":
			return len(s.VirtualServices)
		case "DestinationRule":
			return len(s.DestinationRules)
		case "Gateway":
			return len(s.Gateways)
		case "Service":
			return len(s.Services)
		case "Pod":
			return len(s.Pods)
		}
		return -1
	}
	type testCase struct{ apiVersion, kind, body string }
	cases := []testCase{
		{"v1", "Namespace", ""},
		{"v1", "Service", "spec:\n  ports: [{port: 80}]"},
		{"v1", "Pod", "spec:\n  containers: [{name: app, image: app}]"},
		{"discovery.k8s.io/v1", "EndpointSlice", "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]"},
	}
	for _, version := range []string{"v1", "v1beta1", "v1alpha3"} {
		for kind, spec := range specs {
			cases = append(cases, testCase{"networking.istio.io/" + version, kind, "spec:\n  " + spec})
		}
	}
	for _, tc := range cases {
		t.Run(tc.apiVersion+"/"+tc.kind, func(t *testing.T) {
			doc := "apiVersion: " + tc.apiVersion + "\nkind: " + tc.kind + "\nmetadata:\n  name: x\n" + tc.body + "\n"
			snap := mustLoad(t, map[string]string{"x.yaml": doc})
			noProblems(t, snap)
			if n := count(snap, tc.kind); n != 1 && n != -1 {
				t.Fatalf("got %d %s objects, want 1", n, tc.kind)
			}
		})
	}
}

func TestLoadIstioObjectIsComplete(t *testing.T) {
	snap := mustLoad(t, map[string]string{"rules.yaml": catalogue + "---" + catalogueRule + `---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: catalogue
  namespace: sock-shop
  labels: {team: shop}
spec:
  hosts: [catalogue]
  http:
  - timeout: 5s
    route:
    - destination: {host: catalogue, subset: v1}
`})
	noProblems(t, snap)
	vs := snap.VirtualServices[0]
	want := discovery.Meta{Kind: "VirtualService", Name: "catalogue", Namespace: "sock-shop", Labels: map[string]string{"team": "shop"}}
	if !reflect.DeepEqual(vs.Meta, want) {
		t.Errorf("meta = %+v, want %+v", vs.Meta, want)
	}
	if got := vs.Spec.Http[0].Timeout.AsDuration().String(); got != "5s" {
		t.Errorf("timeout = %s, want 5s", got)
	}
	if got := vs.Spec.Http[0].Route[0].Destination.Subset; got != "v1" {
		t.Errorf("subset = %q, want v1", got)
	}
}

func TestLoadSkipsBrokenDocumentAndKeepsTheOthers(t *testing.T) {
	snap := mustLoad(t, map[string]string{"mesh.yaml": catalogue + `---
apiVersion: v1
kind: Service
metadata: {name: broken
---
` + catalogueRule})
	if len(snap.Services) != 1 || len(snap.DestinationRules) != 1 {
		t.Fatalf("got %d services and %d rules, want 1 and 1", len(snap.Services), len(snap.DestinationRules))
	}
	if len(snap.Problems) != 1 {
		t.Fatalf("problems = %v, want one", snap.Problems)
	}
	p := snap.Problems[0]
	if p.Source != "mesh.yaml#1" || !strings.Contains(p.Reason, "YAML") {
		t.Errorf("problem = %s, want one about the YAML of mesh.yaml#1", p)
	}
}

func TestLoadReportsFieldErrors(t *testing.T) {
	cases := []struct {
		name, doc   string
		kind, field string
		reason      string
	}{{
		name:   "unknown field in a Kubernetes spec",
		doc:    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 80\n  - port: 81\n    nmae: http\n",
		kind:   "Service",
		field:  "spec.ports[1].nmae",
		reason: `unknown field "nmae"`,
	}, {
		name:   "unknown field in metadata",
		doc:    "apiVersion: v1\nkind: Pod\nmetadata: {name: a, lables: {app: a}}\nspec: {containers: [{name: a}]}\n",
		kind:   "Pod",
		field:  "metadata.lables",
		reason: `unknown field "lables"`,
	}, {
		name:   "wrong type in a Kubernetes spec",
		doc:    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 80\n  - port: eighty\n",
		kind:   "Service",
		field:  "spec.ports[1].port",
		reason: "expected int32, got string",
	}, {
		name:   "unknown field in an Istio spec",
		doc:    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - destination: {host: a}\n      weigth: 100\n",
		kind:   "VirtualService",
		field:  "spec.http[0].route[0].weigth",
		reason: `unknown field "weigth"`,
	}, {
		name:   "wrong type in an Istio spec",
		doc:    "apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n  host: a\n  subsets:\n  - name: v1\n    labels: [v1]\n",
		kind:   "DestinationRule",
		field:  "spec.subsets[0].labels",
		reason: "unexpected token [",
	}, {
		name:   "wrong type deep in an Istio spec",
		doc:    "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - destination: {host: a}\n    - destination: {host: b}\n      weight: lots\n",
		kind:   "VirtualService",
		field:  "spec.http[0].route[1].weight",
		reason: "invalid value for int32 field weight",
	}, {
		name:   "unknown field around an Istio spec",
		doc:    "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a}\nspex: {}\n",
		kind:   "Gateway",
		field:  "spex",
		reason: `unknown field "spex"`,
	}, {
		name:   "missing name",
		doc:    "apiVersion: v1\nkind: Service\nmetadata: {namespace: a}\n",
		kind:   "Service",
		field:  "metadata.name",
		reason: "name is required",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := mustLoad(t, map[string]string{"dir/a.yaml": tc.doc})
			if len(snap.Problems) != 1 {
				t.Fatalf("problems = %v, want one", snap.Problems)
			}
			p := snap.Problems[0]
			if p.Source != "dir/a.yaml#0" || p.Kind != tc.kind || p.Field != tc.field || !strings.Contains(p.Reason, tc.reason) {
				t.Errorf("problem = %q\nwant source dir/a.yaml#0, kind %s, field %s, reason containing %q", p, tc.kind, tc.field, tc.reason)
			}
			if n := len(snap.Services) + len(snap.Pods) + len(snap.VirtualServices) + len(snap.DestinationRules) + len(snap.Gateways); n != 0 {
				t.Errorf("the bad object was loaded anyway")
			}
		})
	}
}

func TestLoadValidatesIstioObjects(t *testing.T) {
	vs := func(name, http string) string {
		return "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: " + name +
			", namespace: sock-shop}\nspec:\n  hosts: [catalogue]\n  http:\n" + http
	}
	snap := mustLoad(t, map[string]string{
		"catalogue.yaml": catalogue + "---" + catalogueRule,
		"routes.yaml": vs("good", "  - route:\n    - destination: {host: catalogue, subset: v1}\n") +
			vs("unknown-subset", "  - route:\n    - destination: {host: catalogue, subset: v3}\n") +
			vs("bad-regex", "  - match:\n    - uri: {regex: '/items/(+'}\n    route:\n    - destination: {host: catalogue}\n") +
			vs("bad-weights", "  - route:\n    - destination: {host: catalogue, subset: v1}\n      weight: 80\n"+
				"    - destination: {host: catalogue, subset: v2}\n      weight: 30\n"),
	})
	if len(snap.VirtualServices) != 1 || snap.VirtualServices[0].Name != "good" {
		t.Fatalf("served virtual services %v, want only good", snap.VirtualServices)
	}
	cases := []struct{ name, source, field, reason string }{
		{"unknown-subset", "routes.yaml#1", "spec.http[0].route[0].destination.subset", `subset "v3"`},
		{"bad-regex", "routes.yaml#2", "spec.http[0].match[0].uri.regex", "RE2"},
		{"bad-weights", "routes.yaml#3", "spec.http[0].route", "add up to 110"},
	}
	for _, tc := range cases {
		p := findProblem(t, snap, "VirtualService", "sock-shop/"+tc.name)
		if p.Source != tc.source || p.Field != tc.field || !strings.Contains(p.Reason, tc.reason) {
			t.Errorf("%s: problem = %q, want source %s, field %s, reason containing %q", tc.name, p, tc.source, tc.field, tc.reason)
		}
	}
}

func TestLoadInvalidDestinationRuleHidesItsSubsets(t *testing.T) {
	snap := mustLoad(t, map[string]string{"mesh.yaml": catalogue + `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: catalogue, namespace: sock-shop}
spec:
  host: catalogue
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v1
    labels: {version: v2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: catalogue, namespace: sock-shop}
spec:
  hosts: [catalogue]
  http:
  - route:
    - destination: {host: catalogue, subset: v1}
`})
	if len(snap.DestinationRules) != 0 || len(snap.VirtualServices) != 0 {
		t.Fatalf("served %d rules and %d virtual services, want none", len(snap.DestinationRules), len(snap.VirtualServices))
	}
	if p := findProblem(t, snap, "DestinationRule", "sock-shop/catalogue"); p.Field != "spec.subsets[1].name" || p.Source != "mesh.yaml#1" {
		t.Errorf("problem = %s", p)
	}
	findProblem(t, snap, "VirtualService", "sock-shop/catalogue")
}

func TestLoadEndpointsFromSelector(t *testing.T) {
	snap := mustLoad(t, map[string]string{"svc.yaml": catalogue, "pods.yaml": cataloguePods + `---
apiVersion: v1
kind: Pod
metadata: {name: finished, namespace: sock-shop, labels: {app: catalogue}}
spec: {containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.0.0.3, phase: Succeeded}
---
apiVersion: v1
kind: Pod
metadata: {name: other-port-name, namespace: sock-shop, labels: {app: catalogue}}
spec: {containers: [{name: app, ports: [{name: web, containerPort: 8080}]}]}
status: {podIP: 10.0.0.4}
---
apiVersion: v1
kind: Pod
metadata: {name: other-namespace, namespace: default, labels: {app: catalogue}}
spec: {containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.0.0.5}
`})
	noProblems(t, snap)
	want := []*discovery.Endpoint{
		{Address: "10.0.0.1", Ports: map[string]uint32{"http": 9090}, Labels: map[string]string{"app": "catalogue", "version": "v2"}, PodName: "catalogue-v2", Ready: false},
		{Address: "10.0.0.2", Ports: map[string]uint32{"http": 8080}, Labels: map[string]string{"app": "catalogue", "version": "v1"}, PodName: "catalogue-v1", Ready: true},
	}
	if got := snap.Endpoints["sock-shop/catalogue"]; !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints:\n got %s\nwant %s", showEndpoints(got), showEndpoints(want))
	}
	pod := snap.Pod("sock-shop", "catalogue-v1")
	if pod == nil || !pod.Ready || pod.ServiceAccount != "catalogue" || pod.IP != "10.0.0.2" {
		t.Errorf("pod = %+v", pod)
	}
	if p := snap.Pod("sock-shop", "catalogue-v2"); p.ServiceAccount != "default" {
		t.Errorf("service account = %q, want default", p.ServiceAccount)
	}
}

func TestLoadEndpointsFromEndpointSlices(t *testing.T) {
	snap := mustLoad(t, map[string]string{"svc.yaml": catalogue, "pods.yaml": cataloguePods, "slices.yaml": `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: catalogue-abc
  namespace: sock-shop
  labels: {kubernetes.io/service-name: catalogue}
addressType: IPv4
ports:
- name: http
  port: 7070
endpoints:
- addresses: [10.1.0.2]
  targetRef: {kind: Pod, name: catalogue-v1}
- addresses: [10.1.0.1]
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: someone-else
  namespace: sock-shop
  labels: {kubernetes.io/service-name: front-end}
addressType: IPv4
endpoints:
- addresses: [10.9.9.9]
`})
	noProblems(t, snap)
	// The slices win over the pods that the selector matches.
	want := []*discovery.Endpoint{
		{Address: "10.1.0.1", Ports: map[string]uint32{"http": 7070}, Ready: false},
		{Address: "10.1.0.2", Ports: map[string]uint32{"http": 7070}, Labels: map[string]string{"app": "catalogue", "version": "v1"}, PodName: "catalogue-v1", Ready: true},
	}
	if got := snap.Endpoints["sock-shop/catalogue"]; !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints:\n got %s\nwant %s", showEndpoints(got), showEndpoints(want))
	}
}

func showEndpoints(eps []*discovery.Endpoint) string {
	var parts []string
	for _, e := range eps {
		parts = append(parts, fmt.Sprintf("%+v", *e))
	}
	return strings.Join(parts, "\n     ")
}

func TestLoadServiceModel(t *testing.T) {
	snap := mustLoad(t, map[string]string{"svc.yaml": `
apiVersion: v1
kind: Service
metadata: {name: orders}
spec:
  selector: {app: orders}
  ports:
  - {name: http, port: 80, targetPort: 8080, appProtocol: http}
  - {name: grpc, port: 9000, targetPort: grpc, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
`})
	noProblems(t, snap)
	svc := snap.ServiceByHost("orders.default.svc.cluster.local")
	if svc == nil {
		t.Fatalf("no service orders.default; services: %v", snap.Services)
	}
	want := []discovery.ServicePort{
		{Name: "http", Port: 80, Protocol: "TCP", TargetPortNumber: 8080, AppProtocol: "http"},
		{Name: "grpc", Port: 9000, Protocol: "TCP", TargetPortName: "grpc"},
		{Name: "dns", Port: 53, Protocol: "UDP"},
	}
	if !reflect.DeepEqual(svc.Ports, want) {
		t.Errorf("ports = %+v\nwant %+v", svc.Ports, want)
	}
	if svc.Namespace != "default" || svc.Kind != "Service" {
		t.Errorf("meta = %+v", svc.Meta)
	}
}

func TestLoadFolderRules(t *testing.T) {
	svc := func(name string) string {
		return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec: {ports: [{port: 80}]}\n"
	}
	snap := mustLoad(t, map[string]string{
		"a.yaml":            "# only a comment\n---\n" + svc("first") + "---\n---\n# empty\n",
		"a/b.yml":           svc("first"), // a duplicate: a.yaml sorts before a/b.yml
		"c.json":            `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "from-json"}, "spec": {"ports": [{"port": 80}]}}`,
		"d.txt":             svc("not-config"),
		".hidden.yaml":      svc("hidden-file"),
		".git/config.yaml":  svc("hidden-dir"),
		"deep/er/svc.yaml":  svc("deep"),
		"apps.yaml":         "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
		"scalar.yaml":       "just text\n",
		"empty.json":        "",
		"deep/broken.json":  "{",
		"deep/er/list.yaml": "- a\n- b\n",
	})
	var names []string
	for _, s := range snap.Services {
		names = append(names, s.Name)
	}
	if want := []string{"deep", "first", "from-json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("services = %v, want %v", names, want)
	}
	var got []string
	for _, p := range snap.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"a/b.yml#0: Service default/first: duplicate of a.yaml#0, which is used instead",
		"deep/broken.json#0: not valid JSON",
		"deep/er/list.yaml#0: document is not an object",
		"scalar.yaml#0: document is not an object",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A Deployment is no mesh config: listed once as ignored, not a problem.
	if len(snap.Notices) != 1 || snap.Notices[0].Level != discovery.LevelInfo || snap.Notices[0].Kind != "apps/v1 Deployment" {
		t.Errorf("notices = %v, want one (info) about apps/v1 Deployment", snap.Notices)
	}
}

func TestLoadFailsOnlyWhenTheFolderCannotBeRead(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing folder succeeded")
	}
	snap, err := Load(t.TempDir())
	if err != nil || len(snap.Services) != 0 || snap.Version != 1 {
		t.Errorf("Load of an empty folder = %+v, %v", snap, err)
	}
}

func TestSplitDocuments(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"a: 1\n", []string{"a: 1\n"}},
		{"a: 1\n---\nb: 2\n", []string{"a: 1\n", "b: 2\n"}},
		{"---\na: 1\n", []string{"a: 1\n"}},
		{"# header\n--- # first\na: 1\n---\n", []string{"a: 1\n", ""}},
		{"a: |\n  ---x\n", []string{"a: |\n  ---x\n"}},
		{"a: 1\r\n---\r\nb: 2\r\n", []string{"a: 1\r\n", "b: 2\r\n"}},
	}
	for _, tc := range cases {
		var got []string
		for _, d := range splitDocuments([]byte(tc.in)) {
			got = append(got, string(d.data))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitDocuments(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPathAt(t *testing.T) {
	doc := `{"a": {"b": [10, {"c": "x"}], "d": true}, "e": [[20, 21]]}`
	cases := []struct{ at, want string }{
		{`"a"`, "a"},
		{`"b"`, "a.b"},
		{`10`, "a.b[0]"},
		{`"c"`, "a.b[1].c"},
		{`"x"`, "a.b[1].c"},
		{`"d"`, "a.d"},
		{`true`, "a.d"},
		{`"e"`, "e"},
		{`[[`, "e"},
		{`[20`, "e[0]"},
		{`20`, "e[0][0]"},
		{`21`, "e[0][1]"},
	}
	for _, tc := range cases {
		if got := pathAt([]byte(doc), strings.Index(doc, tc.at)); got != tc.want {
			t.Errorf("pathAt(%s) = %q, want %q", tc.at, got, tc.want)
		}
	}
}

// A ConfigMap mounted as a volume is a folder of symlinks into a hidden,
// timestamped folder: the files are read through the links, once.
func TestLoadConfigMapVolume(t *testing.T) {
	dir := writeFiles(t, map[string]string{"..2025_01_01/svc.yaml": serviceYAML("from-configmap")})
	if err := os.Symlink("..2025_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	if err := os.Symlink(filepath.Join("..data", "svc.yaml"), filepath.Join(dir, "svc.yaml")); err != nil {
		t.Fatal(err)
	}
	snap, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	noProblems(t, snap)
	if len(snap.Services) != 1 || snap.Services[0].Name != "from-configmap" {
		t.Errorf("services = %v, want just from-configmap", snap.Services)
	}
}
