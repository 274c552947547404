// Package e2ekube runs pilotlight end to end in Kubernetes mode: a real
// kube-apiserver, etcd and kube-controller-manager on loopback (test/kube),
// `pilotlight serve --kubeconfig` reading them with informers, and real
// Envoy sidecars that it serves over ADS. The tests are written against
// docs/kubernetes-contract.md.
//
// Pods are API objects only (no kubelet, pod IPs 10.244.x.y are data that
// nothing connects to). The Envoy of each test is the sidecar of a client
// pod with no ports that no Service selects, annotated with a loopback
// local address: it gets outbound clusters, the http_proxy route table and
// endpoints, and binds only loopback. The tests read what it got from its
// admin interface (/clusters, /config_dump, /stats).
package e2ekube

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

const (
	ns = "sock-shop"

	// leaseNamespace holds pilotlight's leader-election Lease.
	leaseNamespace = "pilotlight-system"
	leaseName      = "pilotlight-status" // the contract's default --leader-election-id

	frontEndHost      = "front-end.sock-shop.svc.cluster.local"
	frontEndCluster   = "outbound|80||front-end.sock-shop.svc.cluster.local"
	frontEndV1Cluster = "outbound|80|v1|front-end.sock-shop.svc.cluster.local"
	frontEndV2Cluster = "outbound|80|v2|front-end.sock-shop.svc.cluster.local"
	catalogueCluster  = "outbound|80||catalogue.sock-shop.svc.cluster.local"
	frontEndVHost     = "front-end.sock-shop.svc.cluster.local:80"

	targetPort = 8080

	// converge bounds a change that the test does not measure tightly.
	converge = 30 * time.Second
	// startTimeout bounds pilotlight's /readyz and a sidecar's first config.
	startTimeout = 60 * time.Second
)

// env is one test's world: a cluster with the sock shop in it, the kubelet
// of its one node, and the pilotlight replicas and sidecars the test started.
type env struct {
	t testing.TB
	c *kube.Cluster
	k *kube.Kubelet
}

// newSockShop starts a cluster and creates the sock shop of
// examples/sockshop in it: namespace sock-shop, Services front-end and
// catalogue (80 -> 8080), running ready pods front-end-v1-0 (version v1),
// front-end-v2-0 (v2) and catalogue-v1-0 (v1), and the demo's
// DestinationRule and VirtualService, written as v1alpha3. It also creates
// the namespace of pilotlight's leader-election Lease.
func newSockShop(t testing.TB) *env {
	t.Helper()
	c := kube.Start(t)
	e := &env{t: t, c: c, k: c.Kubelet("node-1")}
	c.CreateNamespace(leaseNamespace)
	c.CreateNamespace(ns)
	c.CreateService(kube.HTTPService(ns, "front-end", 80, targetPort))
	c.CreateService(kube.HTTPService(ns, "catalogue", 80, targetPort))
	e.scale("front-end", "v1", 1)
	e.scale("front-end", "v2", 1)
	e.scale("catalogue", "v1", 1)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"30-destinationrule.yaml", "40-virtualservice.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "examples", "sockshop", f))
		if err != nil {
			t.Fatal(err)
		}
		c.ApplyYAML(string(b))
	}
	return e
}

// scale makes app's pods of version exactly n.
func (e *env) scale(app, version string, n int) []*corev1.Pod {
	e.t.Helper()
	return e.k.Scale(ns, app, version, n, kube.HTTPPort(targetPort))
}

// podIPs returns "ip:8080" of the pods with these labels that are Ready.
func (e *env) endpoints(sel map[string]string) []string {
	e.t.Helper()
	var out []string
	for _, p := range e.c.PodsWithLabels(ns, sel) {
		if isReady(p) && p.Status.PodIP != "" {
			out = append(out, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(targetPort)))
		}
	}
	sort.Strings(out)
	return out
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// pilot is one `pilotlight serve --kubeconfig` replica.
type pilot struct {
	Identity string
	XDSAddr  string
	HTTPAddr string
	Proc     *harness.Process
}

// startPilot starts a replica on free 127.0.0.1 ports with identity id,
// as the cluster's admin, and waits until /readyz is 200 (informers
// synced, a snapshot applied).
func (e *env) startPilot(id string, extra ...string) *pilot {
	e.t.Helper()
	return e.startPilotAs(e.c.Kubeconfig, id, extra...)
}

// startPilotAs is startPilot with another kubeconfig (another identity).
func (e *env) startPilotAs(kubeconfig, id string, extra ...string) *pilot {
	t := e.t
	t.Helper()
	bins := harness.BuildBinaries(t)
	addrs := harness.FreeAddrs(t, "127.0.0.1", 2)
	p := &pilot{Identity: id, XDSAddr: addrs[0], HTTPAddr: addrs[1]}
	args := []string{"serve",
		"--kubeconfig", kubeconfig,
		"--xds-addr", p.XDSAddr,
		"--http-addr", p.HTTPAddr,
		"--identity", id,
		"--leader-election-namespace", leaseNamespace,
	}
	args = append(args, extra...)
	p.Proc = harness.Start(t, harness.Proc{Label: "pilotlight-" + id, Path: bins.Pilotlight, Args: args})
	err := harness.Eventually(startTimeout, 50*time.Millisecond, func() error {
		if err := p.Proc.CheckRunning(); err != nil {
			return harness.Permanent(err)
		}
		_, err := harness.GetBody(p.url("/readyz"))
		return err
	})
	if err != nil {
		t.Fatalf("pilotlight %s: /readyz: %v", id, err)
	}
	return p
}

func (p *pilot) url(path string) string { return "http://" + p.HTTPAddr + path }

// leaderInfo is /debug/leader.
type leaderInfo struct {
	Identity string `json:"identity"`
	Leader   bool   `json:"leader"`
}

func (p *pilot) leader() (leaderInfo, error) {
	var li leaderInfo
	err := harness.GetJSON(p.url("/debug/leader"), &li)
	return li, err
}

func (p *pilot) proxies() ([]harness.ProxyStatus, error) {
	var ps []harness.ProxyStatus
	err := harness.GetJSON(p.url("/debug/proxies"), &ps)
	return ps, err
}

// sidecar is a client pod in the cluster and its real Envoy.
type sidecar struct {
	Name  string
	Pod   *corev1.Pod
	Local string // the pod's loopback "localhost": admin :15000, proxy :15001
	Envoy *harness.Process
}

func (s *sidecar) admin() string { return net.JoinHostPort(s.Local, strconv.Itoa(harness.AdminPort)) }

// startSidecar runs client pod name in ns (label app=name, no ports, no
// Service selects it, annotated with a fresh loopback local address), then
// a real Envoy bootstrapped for it by `pilotlight bootstrap` against p, and
// waits until the Envoy is LIVE and has accepted clusters and listeners.
// The Envoy proves its pod as an injected sidecar would: with a real
// TokenRequest for the pod's ServiceAccount, bound to the pod, audience
// pilotlight (the kubelet's projected token), and the mesh root from the
// istio-ca-root-cert ConfigMap pilotlight published in the namespace.
// At cleanup, while it still runs, the test fails if it NACKed anything.
func (e *env) startSidecar(p *pilot, name string) *sidecar {
	t := e.t
	t.Helper()
	bins := harness.BuildBinaries(t)
	envoy := harness.MustEnvoy(t)
	local := harness.AllocPod(t).Local // its pod IP (127.x) is not used: pods get 10.244.x
	pod := e.k.RunPod(kube.PodOptions{
		Namespace: ns, Name: name,
		Labels:      map[string]string{"app": name},
		Annotations: map[string]string{kube.LocalAddressAnnotation: local},
	})
	s := &sidecar{Name: name, Pod: pod, Local: local}

	tokenFile, rootFile := e.sidecarIdentity(pod)
	args := []string{"bootstrap", "--pod", name, "--namespace", ns, "--pod-ip", pod.Status.PodIP,
		"--local-address", local, "--xds-addr", p.XDSAddr, "--admin-port", strconv.Itoa(harness.AdminPort),
		"--token-file", tokenFile, "--root-cert", rootFile}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Pilotlight, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("pilotlight %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	bootstrap := filepath.Join(harness.LogDir(t), "bootstrap-"+name+".yaml")
	if err := os.WriteFile(bootstrap, out, 0o644); err != nil {
		t.Fatal(err)
	}
	logLevel := os.Getenv("E2E_ENVOY_LOG_LEVEL")
	if logLevel == "" {
		logLevel = "warn"
	}
	s.Envoy = harness.Start(t, harness.Proc{Label: "envoy-" + name, Path: envoy,
		Args: []string{"-c", bootstrap, "--disable-hot-restart", "--log-level", logLevel}})
	// Registered after the Envoy's own cleanup, so it runs first.
	t.Cleanup(func() { s.checkNoNacks(t) })

	err = harness.Eventually(startTimeout, 50*time.Millisecond, func() error {
		if err := s.Envoy.CheckRunning(); err != nil {
			return harness.Permanent(err)
		}
		if _, err := harness.GetBody("http://" + s.admin() + "/ready"); err != nil {
			return err
		}
		stats, err := harness.EnvoyStats(s.admin(), `^(cluster_manager\.cds|listener_manager\.lds)\.update_(success|rejected)$`)
		if err != nil {
			return err
		}
		if n := stats["cluster_manager.cds.update_rejected"] + stats["listener_manager.lds.update_rejected"]; n > 0 {
			return harness.Permanent(fmt.Errorf("it rejected config: %s", harness.FormatNonZero(stats)))
		}
		if stats["cluster_manager.cds.update_success"] == 0 || stats["listener_manager.lds.update_success"] == 0 {
			return fmt.Errorf("no clusters and listeners accepted yet: %v", stats)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("sidecar %s/%s: %v", ns, name, err)
	}
	return s
}

// nacks is the sum of the Envoy's update_rejected counters.
func (s *sidecar) nacks() (uint64, map[string]uint64, error) {
	c, err := harness.NackCounters(s.admin())
	if err != nil {
		return 0, nil, err
	}
	var n uint64
	for _, v := range c {
		n += v
	}
	return n, c, nil
}

func (s *sidecar) checkNoNacks(t testing.TB) {
	if exited, _ := s.Envoy.Exited(); exited {
		return // reported by the process's own cleanup
	}
	n, c, err := s.nacks()
	if err != nil {
		t.Errorf("NACK check of sidecar %s: %v", s.Name, err)
		return
	}
	if n != 0 {
		t.Errorf("sidecar %s rejected config from pilotlight: %s", s.Name, harness.FormatNonZero(c))
	}
}

// requireNoNacks fails the test now if the sidecar NACKed anything.
func (s *sidecar) requireNoNacks(t testing.TB) {
	t.Helper()
	n, c, err := s.nacks()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("sidecar %s NACKed: %s", s.Name, harness.FormatNonZero(c))
	}
}

// clusters returns the Envoy's clusters, each with its healthy hosts
// ("ip:port", sorted). A host that EDS marks anything but HEALTHY is left out.
func (s *sidecar) clusters() (map[string][]string, error) {
	cs, err := harness.EnvoyClusters(s.admin())
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(cs))
	for name, c := range cs {
		hosts := []string{}
		for _, h := range c.HostStatuses {
			if st, ok := h.HealthStatus["eds_health_status"]; ok && st != "HEALTHY" {
				continue
			}
			sa := h.Address.SocketAddress
			hosts = append(hosts, net.JoinHostPort(sa.Address, strconv.Itoa(sa.PortValue)))
		}
		sort.Strings(hosts)
		out[name] = hosts
	}
	return out, nil
}

// hostsAre is a check: cluster exists with exactly these healthy hosts.
func (s *sidecar) hostsAre(cluster string, want []string) func() error {
	w := append([]string{}, want...)
	sort.Strings(w)
	return func() error {
		cs, err := s.clusters()
		if err != nil {
			return err
		}
		got, ok := cs[cluster]
		if !ok {
			return fmt.Errorf("sidecar %s has no cluster %s", s.Name, cluster)
		}
		if strings.Join(got, ",") != strings.Join(w, ",") {
			return fmt.Errorf("sidecar %s: cluster %s has hosts %q, want %q", s.Name, cluster, got, w)
		}
		return nil
	}
}

// clusterGone is a check: the Envoy has no cluster of that name.
func (s *sidecar) clusterGone(cluster string) func() error {
	return func() error {
		cs, err := s.clusters()
		if err != nil {
			return err
		}
		if _, ok := cs[cluster]; ok {
			return fmt.Errorf("sidecar %s still has cluster %s", s.Name, cluster)
		}
		return nil
	}
}

// Route is one route of the http_proxy route table, reduced to what the
// tests compare: its name, every regex in its match, and where it sends
// requests ("cluster" or "cluster=weight" for a split).
type Route struct {
	Name    string
	Regexes []string
	To      []string
}

func (r Route) String() string {
	return fmt.Sprintf("%s%v->%v", r.Name, r.Regexes, r.To)
}

// routeConfigs returns the Envoy's dynamic route configurations by name,
// as raw JSON.
func (s *sidecar) routeConfigs() (map[string]json.RawMessage, error) {
	body, err := harness.GetBody("http://" + s.admin() + "/config_dump?resource=dynamic_route_configs")
	if err != nil {
		return nil, err
	}
	var dump struct {
		Configs []struct {
			RouteConfig json.RawMessage `json:"route_config"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		return nil, fmt.Errorf("config_dump: %v", err)
	}
	out := map[string]json.RawMessage{}
	for _, c := range dump.Configs {
		var head struct {
			Name string `json:"name"`
		}
		if len(c.RouteConfig) == 0 || json.Unmarshal(c.RouteConfig, &head) != nil {
			continue
		}
		out[head.Name] = c.RouteConfig
	}
	return out, nil
}

// vhostRoutes returns the routes of virtual host vhost in the http_proxy
// route table (nil, nil when there is no such virtual host).
func (s *sidecar) vhostRoutes(vhost string) ([]Route, error) {
	rcs, err := s.routeConfigs()
	if err != nil {
		return nil, err
	}
	raw, ok := rcs["http_proxy"]
	if !ok {
		return nil, fmt.Errorf("sidecar %s has no route configuration http_proxy", s.Name)
	}
	var rc struct {
		VirtualHosts []struct {
			Name   string `json:"name"`
			Routes []struct {
				Name  string `json:"name"`
				Match any    `json:"match"`
				Route struct {
					Cluster          string `json:"cluster"`
					WeightedClusters struct {
						Clusters []struct {
							Name   string `json:"name"`
							Weight int    `json:"weight"`
						} `json:"clusters"`
					} `json:"weighted_clusters"`
				} `json:"route"`
			} `json:"routes"`
		} `json:"virtual_hosts"`
	}
	if err := json.Unmarshal(raw, &rc); err != nil {
		return nil, err
	}
	for _, vh := range rc.VirtualHosts {
		if vh.Name != vhost {
			continue
		}
		routes := []Route{}
		for _, r := range vh.Routes {
			out := Route{Name: r.Name, Regexes: regexes(r.Match)}
			if r.Route.Cluster != "" {
				out.To = append(out.To, r.Route.Cluster)
			}
			for _, wc := range r.Route.WeightedClusters.Clusters {
				out.To = append(out.To, fmt.Sprintf("%s=%d", wc.Name, wc.Weight))
			}
			routes = append(routes, out)
		}
		return routes, nil
	}
	return nil, nil
}

// regexes collects every "regex" string under v (a decoded JSON value).
func regexes(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if s, ok := x[k].(string); ok && k == "regex" {
					out = append(out, s)
					continue
				}
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// routesAre is a check: the virtual host's routes are exactly want.
func (s *sidecar) routesAre(vhost string, want []Route) func() error {
	return func() error {
		got, err := s.vhostRoutes(vhost)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("sidecar %s: virtual host %s has routes %v, want %v", s.Name, vhost, got, want)
		}
		return nil
	}
}

// demoRoutes are the routes of examples/sockshop/40-virtualservice.yaml
// (with the canary weights v1, v2).
func demoRoutes(v1, v2 int) []Route {
	return []Route{
		{Name: "firefox-to-v2", Regexes: []string{".*Firefox.*"}, To: []string{frontEndV2Cluster}},
		{Name: "canary", To: []string{fmt.Sprintf("%s=%d", frontEndV1Cluster, v1), fmt.Sprintf("%s=%d", frontEndV2Cluster, v2)}},
	}
}

// demoVirtualService is the demo's VirtualService with other canary
// weights and Firefox regex, in v1alpha3 spelling.
func demoVirtualService(regex string, v1, v2 int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: front-end
  namespace: sock-shop
spec:
  hosts:
  - front-end
  http:
  - name: firefox-to-v2
    match:
    - headers:
        user-agent:
          regex: %q
    route:
    - destination:
        host: front-end
        subset: v2
  - name: canary
    route:
    - destination:
        host: front-end
        subset: v1
      weight: %d
    - destination:
        host: front-end
        subset: v2
      weight: %d
`, regex, v1, v2)
}

// waitDemo waits until the sidecar has the demo's clusters with the pods'
// endpoints and the demo's routes.
func (e *env) waitDemo(s *sidecar) {
	t := e.t
	t.Helper()
	checks := []func() error{
		s.hostsAre(catalogueCluster, e.endpoints(map[string]string{"app": "catalogue"})),
		s.hostsAre(frontEndCluster, e.endpoints(map[string]string{"app": "front-end"})),
		s.hostsAre(frontEndV1Cluster, e.endpoints(map[string]string{"app": "front-end", "version": "v1"})),
		s.hostsAre(frontEndV2Cluster, e.endpoints(map[string]string{"app": "front-end", "version": "v2"})),
		s.routesAre(frontEndVHost, demoRoutes(80, 20)),
	}
	for _, check := range checks {
		if err := harness.Eventually(converge, 50*time.Millisecond, check); err != nil {
			t.Fatal(err)
		}
	}
}

// lease reads pilotlight's leader-election Lease: its holder ("" if none).
func (e *env) leaseHolder() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := e.c.Client.CoordinationV1().Leases(leaseNamespace).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}

// latencies collects the time from an API write to the proxy having the
// change.
type latencies struct {
	names []string
	took  []time.Duration
}

// measure runs write (one API write), then polls arrived until it passes,
// and records the time from just before the write.
func (l *latencies) measure(t testing.TB, name string, write func(), arrived func() error) time.Duration {
	t.Helper()
	start := time.Now()
	write()
	if err := harness.Eventually(converge, 5*time.Millisecond, arrived); err != nil {
		t.Fatalf("change %q did not reach the proxy: %v", name, err)
	}
	d := time.Since(start)
	l.names = append(l.names, name)
	l.took = append(l.took, d)
	return d
}

func (l *latencies) summary() (median, worst time.Duration, worstName string) {
	if len(l.took) == 0 {
		return 0, 0, ""
	}
	sorted := append([]time.Duration(nil), l.took...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	n := len(sorted)
	if n%2 == 1 {
		median = sorted[n/2]
	} else {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	for i, d := range l.took {
		if d >= worst {
			worst, worstName = d, l.names[i]
		}
	}
	return median, worst, worstName
}

// report logs every change and the median and worst, and writes them to
// <artifacts>/<file> when E2E_ARTIFACTS is set.
func (l *latencies) report(t testing.TB, file string) {
	t.Helper()
	median, worst, worstName := l.summary()
	var b strings.Builder
	fmt.Fprintf(&b, "# API write -> proxy has the change, %d changes\n", len(l.took))
	for i, d := range l.took {
		fmt.Fprintf(&b, "%-60s %8.1f ms\n", l.names[i], float64(d.Microseconds())/1000)
	}
	fmt.Fprintf(&b, "median %.1f ms\nworst  %.1f ms (%s)\n",
		float64(median.Microseconds())/1000, float64(worst.Microseconds())/1000, worstName)
	t.Logf("\n%s", b.String())
	if os.Getenv("E2E_ARTIFACTS") != "" {
		path := filepath.Join(harness.LogDir(t), file)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", path, err)
		} else {
			t.Logf("latencies written to %s", path)
		}
	}
}
