package translate

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// goldenCases: each names a folder of mesh config; every pod in it gets a
// golden file of its whole view under testdata/golden/<case>/. In cases
// named capture-* every sidecar is captured (iptables mode). A file named
// meshconfig in a case holds Istio's MeshConfig YAML for it.
var goldenCases = map[string]string{
	"sockshop": "../examples/sockshop",
}

func TestGoldenViews(t *testing.T) {
	cases := map[string]string{}
	for name, dir := range goldenCases {
		cases[name] = dir
	}
	dirs, _ := filepath.Glob("testdata/cases/*")
	for _, dir := range dirs {
		cases[filepath.Base(dir)] = dir
	}
	for name, dir := range cases {
		t.Run(name, func(t *testing.T) {
			snap, err := folder.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Pods) == 0 {
				t.Fatalf("%s: no pods, nothing to translate", dir)
			}
			mesh := NewMesh(snap, WithMeshConfig(goldenMeshConfig(t, dir)))
			for _, pod := range snap.Pods {
				p := goldenProxy(pod)
				if strings.HasPrefix(name, "capture-") && p.Type == Sidecar {
					p.Interception = InterceptRedirect
				}
				res := mesh.ForProxy(p)
				got := renderView(t, res, proxyProblems(snap, mesh, p, res))
				compareGolden(t, filepath.Join("testdata", "golden", name, pod.Namespace+"."+pod.Name+".yaml"), got)
			}
		})
	}
}

// goldenMeshConfig reads a case's meshconfig file, if it has one.
func goldenMeshConfig(t *testing.T, dir string) *meshconfig.MeshConfig {
	t.Helper()
	path := filepath.Join(dir, "meshconfig")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	mc, problems, err := discovery.ParseMeshConfig(path, data)
	if err != nil || len(problems) > 0 {
		t.Fatalf("%s: %v %v", path, err, problems)
	}
	return mc
}

// TestTranslationIsDeterministic: two translations of one snapshot give
// identical bytes (no map order leaks into the output).
func TestTranslationIsDeterministic(t *testing.T) {
	snap, err := folder.Load("../examples/sockshop")
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range snap.Pods {
		p := goldenProxy(pod)
		a := renderView(t, NewMesh(snap).ForProxy(p), nil)
		b := renderView(t, NewMesh(snap).ForProxy(p), nil)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two translations differ", pod.Key())
		}
	}
}

// goldenProxy is the proxy of a pod: a gateway (Router) for pods labelled
// istio: ingressgateway, as `pilotlight bootstrap --gateway` starts them,
// else a sidecar.
func goldenProxy(pod *discovery.Pod) Proxy {
	p := Proxy{Type: Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace}
	if pod.Labels["istio"] == "ingressgateway" {
		p.Type = Router
	}
	return p
}

// proxyProblems are the snapshot's problems and, when there are any, the
// mesh's and the proxy's EnvoyFilter patches' (as /debug/problems lists
// them, but for this proxy only).
func proxyProblems(snap *discovery.Snapshot, mesh *Mesh, p Proxy, res *Resources) []discovery.Problem {
	problems := append([]discovery.Problem{}, snap.Problems...)
	problems = append(problems, mesh.Problems()...)
	return append(problems, PatchProblems(map[string][]PatchResult{p.NodeID(): res.Patches})...)
}

func renderView(t *testing.T, r *Resources, problems []discovery.Problem) []byte {
	t.Helper()
	var buf bytes.Buffer
	section := func(title string, msgs []proto.Message) {
		buf.WriteString("# " + title + "\n")
		for _, m := range msgs {
			js, err := protojson.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			y, err := yaml.JSONToYAML(js)
			if err != nil {
				t.Fatal(err)
			}
			buf.WriteString("---\n")
			buf.Write(y)
		}
	}
	section("clusters", asMessages(r.Clusters))
	section("endpoints", asMessages(r.LoadAssignments))
	section("listeners", asMessages(r.Listeners))
	section("routes", asMessages(r.Routes))
	if len(r.Secrets) > 0 { // only gateways have any; the other files stay as they were
		section("secrets", asMessages(r.Secrets))
	}
	if len(problems) > 0 {
		buf.WriteString("# problems\n")
		for _, p := range problems {
			buf.WriteString("# - " + strings.ReplaceAll(p.String(), "\n", " ") + "\n")
		}
	}
	return buf.Bytes()
}

func asMessages[T proto.Message](items []T) []proto.Message {
	out := make([]proto.Message, len(items))
	for i, m := range items {
		out[i] = m
	}
	return out
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./translate -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the translation; if the change is intended, run: go test ./translate -update\n%s", path, firstDifference(want, got))
	}
}

func firstDifference(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + itoa(i+1) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return ""
}

func itoa(i int) string { return uitoa(uint32(i)) }
