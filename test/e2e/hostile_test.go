package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// hostileInput is one broken or hostile input written into the watched
// folder: what pilotlight must report (every string in /debug/problems).
type hostileInput struct {
	name   string
	file   string // the file it is written as (replacing the mesh's own, for edits)
	yaml   string // its content, when it is a plain file
	make   func(t *testing.T, path string)
	report []string
}

// hostileInputs are the inputs of issue 12 (each made a proxy NACK, crashed
// pilotlight, or was accepted silently) and more of our own.
func hostileInputs(s *hostileShop) []hostileInput {
	svc := func(name, ports string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %q, namespace: sock-shop}\nspec:\n  selector: {app: catalogue}\n  ports: %s\n", name, ports)
	}
	pod := func(name, ip, containerPort string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: sock-shop, labels: {app: catalogue, version: v1}}\n"+
			"spec: {containers: [{name: app, ports: [{name: http, containerPort: %s}]}]}\nstatus: {podIP: %q}\n", name, containerPort, ip)
	}
	vs := func(host, regex string, gateways string) string {
		match := ""
		if regex != "" {
			match = fmt.Sprintf("    match: [{headers: {x-user: {regex: %q}}}]\n", regex)
		}
		return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: hostile, namespace: sock-shop}\n"+
			"spec:\n  hosts: [%q]\n  gateways: %s\n  http:\n  - route: [{destination: {host: catalogue}}]\n%s", host, gateways, match)
	}
	mesh := "[mesh]"
	atGateway := "[shop-gateway]"
	return []hostileInput{
		{name: "targetPort 70000", file: "hostile.yaml", yaml: svc("hostile", "[{name: http, port: 80, targetPort: 70000}]"),
			report: []string{"spec.ports[0].targetPort", "70000"}},
		{name: "two ports with one number", file: "hostile.yaml", yaml: svc("hostile", "[{name: http, port: 80}, {name: http2, port: 80}]"),
			report: []string{"spec.ports[1].port", "already spec.ports[0]"}},
		{name: "pod IP abc", file: "hostile.yaml", yaml: pod("hostile", "abc", "8080"), report: []string{"status.podIP", "abc", "is not an IP address"}},
		{name: "pod IP 999.1.1.1", file: "hostile.yaml", yaml: pod("hostile", "999.1.1.1", "8080"), report: []string{"status.podIP", "999.1.1.1"}},
		{name: "pod IP with a trailing space", file: "hostile.yaml", yaml: pod("hostile", "127.10.9.9 ", "8080"), report: []string{"status.podIP", "127.10.9.9 "}},
		{name: "EndpointSlice address abc, port 70000", file: "hostile.yaml",
			yaml: "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: catalogue-hostile, namespace: sock-shop, labels: {kubernetes.io/service-name: catalogue}}\n" +
				"addressType: IPv4\nports: [{name: http, port: 70000}]\nendpoints: [{addresses: [abc]}]\n",
			report: []string{"endpoints[0].addresses[0]", "ports[0].port"}},
		{name: "the client's local address not-an-ip", file: "pods.yaml", yaml: s.podsWith(s.client.Local, "not-an-ip"),
			report: []string{"sock-shop/sleep", "local address must be an IP address", "the previous valid version is still served"}},
		{name: "the gateway's pod IP not-an-ip", file: "gateway-ingressgateway.yaml", yaml: s.gatewayPodWith("not-an-ip"),
			report: []string{"sock-shop/ingressgateway", "status.podIP", "the previous valid version is still served"}},
		{name: "gateway VirtualService host with a newline", file: "hostile.yaml", yaml: vs("shop.example.com\n", "", atGateway), report: []string{"spec.hosts[0]", "not a host name"}},
		{name: `regex \x{100}`, file: "hostile.yaml", yaml: vs("catalogue", `\x{100}`, mesh), report: []string{"regex", `\\x{100}`}},
		{name: `regex [^\x00-\x{10FFFF}]`, file: "hostile.yaml", yaml: vs("catalogue", `[^\x00-\x{10FFFF}]`, mesh), report: []string{"regex", `\\x{10FFFF}`}},
		{name: "Service name in upper case", file: "hostile.yaml", yaml: svc("Hostile", "[{name: http, port: 80}]"), report: []string{"metadata.name", "Hostile"}},
		{name: "Service name with a space", file: "hostile.yaml", yaml: svc("host ile", "[{name: http, port: 80}]"), report: []string{"metadata.name", "host ile"}},
		{name: "Service name of 300 characters", file: "hostile.yaml", yaml: svc(strings.Repeat("a", 300), "[{name: http, port: 80}]"), report: []string{"metadata.name", "253"}},
		{name: "Service port 0", file: "hostile.yaml", yaml: svc("hostile", "[{name: http, port: 0}]"), report: []string{"spec.ports[0].port", "port 0 is not in 1..65535"}},
		{name: "Service port 65536", file: "hostile.yaml", yaml: svc("hostile", "[{name: http, port: 65536}]"), report: []string{"spec.ports[0].port", "65536"}},
		{name: "Service port -1", file: "hostile.yaml", yaml: svc("hostile", "[{name: http, port: -1}]"), report: []string{"spec.ports[0].port", "-1"}},
		{name: "container port 0", file: "hostile.yaml", yaml: pod("hostile", "127.10.9.9", "0"), report: []string{"containerPort", "port 0 is not"}},
		{name: "container port 70000", file: "hostile.yaml", yaml: pod("hostile", "127.10.9.9", "70000"), report: []string{"containerPort", "70000"}},
		{name: "sidecar host with spaces", file: "hostile.yaml", yaml: vs("cata logue", "", mesh), report: []string{"spec.hosts[0]", "not a host name"}},
		{name: "sidecar host with a non-ASCII letter", file: "hostile.yaml", yaml: vs("catalögue", "", mesh), report: []string{"spec.hosts[0]", "not a host name"}},
		{name: "gateway host with spaces", file: "hostile.yaml", yaml: vs("shop example.com", "", atGateway), report: []string{"spec.hosts[0]", "not a host name"}},
		{name: "timeout 315576000000s", file: "hostile.yaml",
			yaml:   "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: hostile, namespace: sock-shop}\nspec:\n  hosts: [catalogue]\n  http:\n  - timeout: 315576000000s\n    route: [{destination: {host: catalogue}}]\n",
			report: []string{"spec.http[0].timeout", "out of range: Envoy takes durations from 0s to 9223372035s"}},
		{name: "a link to /dev/zero", file: "zero.yaml", make: symlinkTo("/dev/zero"), report: []string{"zero.yaml", "out of the config folder"}},
		{name: "a link out of the folder", file: "passwd.yaml", make: symlinkTo("/etc/passwd"), report: []string{"passwd.yaml", "out of the config folder"}},
		{name: "a FIFO", file: "fifo.yaml", make: func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, report: []string{"fifo.yaml", "not a regular file"}},
		{name: "a file of 11 MiB", file: "huge.yaml", make: func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("# padding\n"), 11<<20/10), 0o644); err != nil {
				t.Fatal(err)
			}
		}, report: []string{"huge.yaml", "more than the limit of 10485760"}},
		{name: "a folder named like a file", file: "dir.yaml", make: func(t *testing.T, path string) {
			if err := os.MkdirAll(filepath.Join(path, "inner"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(path, "inner", "bad.yaml"), []byte("kind: [\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, report: []string{"dir.yaml/inner/bad.yaml", "not valid YAML"}},
		{name: "a YAML alias bomb", file: "hostile.yaml", yaml: aliasBomb, report: []string{"hostile.yaml#0", "excessive aliasing"}},
		{name: "YAML nested 100000 deep", file: "hostile.yaml", yaml: strings.Repeat("[", 100000), report: []string{"hostile.yaml#0", "max depth"}},
		{name: "NUL bytes", file: "hostile.yaml", yaml: "apiVersion: v1\x00\x00kind: Service\n", report: []string{"hostile.yaml#0", "control characters"}},
	}
}

const aliasBomb = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
`

func symlinkTo(target string) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

// hostileShop is the sock shop with an ingress gateway in front of
// front-end.
type hostileShop struct {
	*sockShop
	gw *harness.Gateway
}

// podsWith is the mesh's pods.yaml with one local address replaced.
func (s *hostileShop) podsWith(local, replacement string) string {
	_, _, pods := s.BaseConfig()
	old := fmt.Sprintf("%q: %q", harness.LocalAddressAnnotation, local)
	if !strings.Contains(pods, old) {
		s.T.Fatalf("pods.yaml has no %s", old)
	}
	return strings.Replace(pods, old, fmt.Sprintf("%q: %q", harness.LocalAddressAnnotation, replacement), 1)
}

// gatewayPodWith is the gateway's Pod with another pod IP.
func (s *hostileShop) gatewayPodWith(ip string) string {
	p := harness.Pod{Name: s.gw.Name, Namespace: s.gw.Namespace, Labels: s.gw.Labels, NoApp: true, PodIP: s.gw.PodIP, Local: s.gw.Local}
	return strings.ReplaceAll(p.YAML(), fmt.Sprintf("%q", s.gw.PodIP), fmt.Sprintf("%q", ip))
}

// TestHostileInputs writes every hostile input into the watched folder, one
// at a time, while real Envoys (three sidecars and a gateway) are connected
// and traffic flows to catalogue (sidecar) and front-end (gateway). For
// each: the problem is reported with its object and field, no Envoy NACKs,
// the traffic never fails, and once the input is removed (or the file
// restored) every proxy is back on exactly the baseline config.
func TestHostileInputs(t *testing.T) {
	sock := newSockShop(t, map[string]string{"shop-gateway.yaml": shopGatewayHTTP, "shop-vs.yaml": shopVS(`  - route:
    - destination: {host: front-end}
`)})
	gw := harness.AddGateway(sock.Mesh, "ingressgateway", map[string]string{"app": "ingressgateway", "istio": "ingressgateway"}, gwHTTPPort)
	sock.Start()
	gw.Start()
	s := &hostileShop{sockShop: sock, gw: gw}
	s.waitClusters(t, catalogueCluster, frontEndCluster)
	if _, err := harness.WaitForRoute(s.client.Client(), catalogueURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForRoute(gw.Client(nil), shopURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSettled(converge); err != nil {
		t.Fatal(err)
	}
	admins := map[string]string{"sleep": s.client.Admin(), "front-end-v1": s.frontEndV1.Admin(), "catalogue-v1": s.catalogue.Admin(), "gateway": gw.Admin()}
	baseline := map[string]string{}
	for name, admin := range admins {
		baseline[name] = envoyView(t, admin)
	}
	originals := map[string]string{}
	for _, f := range []string{"pods.yaml", "gateway-ingressgateway.yaml"} {
		data, err := os.ReadFile(filepath.Join(s.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		originals[f] = string(data)
	}

	traffic := startPacedLoad(map[string]func() shot{
		"sidecar to catalogue": func() shot { return fire(s.client.Client(), catalogueURL) },
		"gateway to front-end": func() shot { return fire(gw.Client(nil), shopURL) },
		"sidecar to front-end": func() shot { return fire(s.client.Client(), frontEndURL) },
	})
	defer traffic.stop()

	for _, in := range hostileInputs(s) {
		path := filepath.Join(s.Dir, in.file)
		if in.make != nil {
			in.make(t, path)
		} else {
			s.WriteFile(in.file, in.yaml)
		}
		waitProblems(t, s.sockShop, in.report...)
		if err := s.WaitSettled(converge); err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		for name, admin := range admins {
			if n, err := harness.NackCount(admin); err != nil || n != 0 {
				c, _ := harness.NackCounters(admin)
				t.Fatalf("%s: %s NACKed (%v): %s", in.name, name, err, harness.FormatNonZero(c))
			}
		}
		// Remove it (or restore the mesh's own file).
		if original, ok := originals[in.file]; ok {
			s.WriteFile(in.file, original)
		} else if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
		err := harness.Eventually(converge, 50*time.Millisecond, func() error {
			raw, _, err := s.Problems()
			if err != nil {
				return err
			}
			if !bytes.Equal(bytes.TrimSpace(raw), []byte("[]")) {
				return fmt.Errorf("problems left: %s", raw)
			}
			for name, admin := range admins {
				if got := envoyView(t, admin); got != baseline[name] {
					return fmt.Errorf("%s is not back on the baseline config", name)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: after removing it: %v", in.name, err)
		}
		t.Logf("%s: reported, no NACK, back on the baseline", in.name)
	}

	for what, shots := range traffic.stop() {
		failed := 0
		var first string
		for _, sh := range shots {
			if sh.err != "" {
				if failed == 0 {
					first = sh.err
				}
				failed++
			}
		}
		t.Logf("%s: %d requests, %d failed", what, len(shots), failed)
		if len(shots) < 50 {
			t.Errorf("%s: only %d requests", what, len(shots))
		}
		if failed > 0 {
			t.Errorf("%s: %d of %d requests failed; first: %s", what, failed, len(shots), first)
		}
	}
}

// pacedLoad sends requests on several routes, one at a time per route and
// at most one every 20 ms, until stopped: bounded by the test's length.
type pacedLoad struct {
	mu      sync.Mutex
	results map[string][]shot
	done    chan struct{}
	wg      sync.WaitGroup
	stopped bool
}

func startPacedLoad(routes map[string]func() shot) *pacedLoad {
	l := &pacedLoad{results: map[string][]shot{}, done: make(chan struct{})}
	for name, fire := range routes {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-l.done:
					return
				case <-tick.C:
				}
				r := fire()
				l.mu.Lock()
				l.results[name] = append(l.results[name], r)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *pacedLoad) stop() map[string][]shot {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		close(l.done)
	}
	l.mu.Unlock()
	l.wg.Wait()
	return l.results
}

// envoyView is what an Envoy was configured with over xDS: its dynamic
// listeners, route tables, clusters and endpoints, as sorted JSON without
// versions and times.
func envoyView(t *testing.T, admin string) string {
	t.Helper()
	body, err := harness.EnvoyConfigDump(admin)
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		Configs []map[string]json.RawMessage `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		t.Fatalf("config_dump of %s: %v", admin, err)
	}
	var parts []string
	add := func(raw json.RawMessage) {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			out, _ := json.Marshal(v) // sorted keys
			parts = append(parts, string(out))
		}
	}
	for _, c := range dump.Configs {
		for _, key := range []string{"dynamic_listeners", "dynamic_route_configs", "dynamic_active_clusters", "dynamic_endpoint_configs"} {
			var items []map[string]json.RawMessage
			if json.Unmarshal(c[key], &items) != nil {
				continue
			}
			for _, item := range items {
				for _, inner := range []string{"route_config", "cluster", "endpoint_config"} {
					if raw, ok := item[inner]; ok {
						add(raw)
					}
				}
				if raw, ok := item["active_state"]; ok {
					var st map[string]json.RawMessage
					if json.Unmarshal(raw, &st) == nil {
						add(st["listener"])
					}
				}
			}
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}
