// Package fuzz holds the fuzz target whose oracle is Envoy itself: any
// config file the fuzzer makes, next to the demo mesh, goes through the
// folder reader and the translation, and every proxy's view is loaded into
// a real Envoy (envoy --mode validate). A view Envoy rejects would be a
// NACK: the target fails.
//
//	go test ./test/fuzz                               # the corpus in testdata/fuzz, as CI does
//	go test ./test/fuzz -run '^$' -fuzz FuzzTranslate -fuzztime 5m   # or: make fuzz
package fuzz

import (
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/translate"
)

// baseMesh is examples/sockshop: services, pods (sidecars and the ingress
// gateway), the demo's rules. The fuzzed file is added beside it.
const baseMesh = "../../examples/sockshop"

// seeds are valid and broken inputs of every kind, for the fuzzer to start
// from; testdata/fuzz/FuzzTranslate holds more that it found interesting.
var seeds = []string{
	seedVirtualService, seedDestinationRule, seedGateway, seedService, seedPod,
	"apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: sock-shop}\nspec:\n  ports: [{name: http, port: 70000, targetPort: 70000}]\n",
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x, namespace: sock-shop}\nspec:\n  hosts: [\"front-end\\n\"]\n  http: [{route: [{destination: {host: front-end}}]}]\n",
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x, namespace: sock-shop}\nspec:\n  hosts: [catalogue]\n  http: [{match: [{uri: {regex: '[^\\x00-\\x{10FFFF}]'}}], route: [{destination: {host: catalogue}}]}]\n",
}

// validated remembers the views Envoy already accepted in this process, by
// hash: most fuzzed inputs are refused before translation and change no
// view, and Envoy need not see the same view twice.
var validated sync.Map

// envoyEvery is how often, at most, a fuzzing worker hands a new view to
// Envoy (which takes about 0.2 s a view); every view in between still goes
// through the resources' own proto validation, which Envoy also applies.
// The corpus run of go test hands Envoy every view.
const envoyEvery = 500 * time.Millisecond

var lastEnvoy atomic.Int64 // unix nanoseconds of the last Envoy run

// envoyDue reports whether this view goes to Envoy.
func envoyDue() bool {
	if f := flag.Lookup("test.fuzz"); f == nil || f.Value.String() == "" {
		return true // not fuzzing: the corpus
	}
	now, last := time.Now().UnixNano(), lastEnvoy.Load()
	return now-last >= int64(envoyEvery) && lastEnvoy.CompareAndSwap(last, now)
}

func FuzzTranslate(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	envoy := harness.MustEnvoy(f)
	base := readBase(f)
	certPEM, keyPEM := discoverytest.SelfSigned(f, "fuzz.example.com")
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for name, content := range base {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "zz-fuzz.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		snap, err := folder.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkProblems(t, snap)
		mesh := translate.NewMesh(snap)
		for _, pod := range snap.Pods {
			p := translate.Proxy{Type: translate.Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace}
			if pod.Labels["istio"] == "ingressgateway" {
				p.Type = translate.Router
			}
			res := mesh.ForProxy(p)
			b, err := staticBootstrap(p.NodeID(), res, certPEM, keyPEM)
			if err != nil {
				t.Fatalf("%s: %v\ninput:\n%s", pod.Key(), err, data)
			}
			if err := protoValidate(res); err != nil {
				t.Fatalf("the view of %s breaks a proto constraint (a NACK): %v\ninput:\n%s\nproblems: %v", pod.Key(), err, data, snap.Problems)
			}
			sum := viewHash(b)
			if _, seen := validated.Load(sum); seen || !envoyDue() {
				continue
			}
			if err := envoyValidate(envoy, dir, pod.Name, b); err != nil {
				t.Fatalf("Envoy rejects the view of %s (a NACK): %v\ninput:\n%s\nproblems: %v", pod.Key(), err, data, snap.Problems)
			}
			validated.Store(sum, true)
		}
	})
}

// checkProblems: whatever the input, every problem says where and why.
func checkProblems(t *testing.T, snap *discovery.Snapshot) {
	t.Helper()
	for _, p := range snap.Problems {
		if p.Source == "" || p.Reason == "" {
			t.Errorf("problem without source or reason: %+v", p)
		}
	}
}

func viewHash(b proto.Message) [32]byte {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	if err != nil {
		panic(err)
	}
	return sha256.Sum256(raw)
}

func readBase(f *testing.F) map[string][]byte {
	files, err := filepath.Glob(filepath.Join(baseMesh, "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no base mesh in %s: %v", baseMesh, err)
	}
	base := map[string][]byte{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		base[filepath.Base(file)] = data
	}
	return base
}

// protoValidate runs the constraints go-control-plane generates from
// Envoy's protos (the checks Envoy makes first) on every resource.
func protoValidate(res *translate.Resources) error {
	var all []interface{ ValidateAll() error }
	for _, c := range res.Clusters {
		all = append(all, c)
	}
	for _, e := range res.LoadAssignments {
		all = append(all, e)
	}
	for _, l := range res.Listeners {
		all = append(all, l)
	}
	for _, r := range res.Routes {
		all = append(all, r)
	}
	for _, s := range res.Secrets {
		all = append(all, s)
	}
	for _, r := range all {
		if err := r.ValidateAll(); err != nil {
			return err
		}
	}
	return nil
}
