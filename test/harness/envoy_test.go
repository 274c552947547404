package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvoyIsTheProjectsVersion(t *testing.T) {
	v, err := EnvoyBinaryVersion(MustEnvoy(t))
	if err != nil {
		t.Fatal(err)
	}
	if v != EnvoyVersion {
		t.Fatalf("Envoy %s found, the project is tested with %s (scripts/ensure-envoy.sh installs it)", v, EnvoyVersion)
	}
}

// staticSidecar is a bootstrap with no control plane that is laid out like
// a pilotlight sidecar in local mode (outbound HTTP proxy on local:15001,
// inbound listener on podIP:8080 to the app on local:8080), so that the
// Envoy helpers and ProxyClient are checked against a real Envoy.
const staticSidecar = `
node:
  id: "sidecar~{{POD_IP}}~sleep.sock-shop~sock-shop.svc.cluster.local"
  cluster: sleep.sock-shop
admin:
  address: {socket_address: {address: "{{LOCAL}}", port_value: 15000}}
static_resources:
  listeners:
  - name: outbound
    address: {socket_address: {address: "{{LOCAL}}", port_value: 15001}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: outbound_15001
          route_config:
            name: "15001"
            virtual_hosts:
            - name: front-end
              domains: ["front-end", "front-end:80", "front-end.sock-shop", "front-end.sock-shop:80",
                        "front-end.sock-shop.svc.cluster.local", "front-end.sock-shop.svc.cluster.local:80"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: "outbound|80||front-end.sock-shop.svc.cluster.local"}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  - name: inbound
    address: {socket_address: {address: "{{POD_IP}}", port_value: 8080}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: inbound_8080
          route_config:
            name: "inbound|8080||"
            virtual_hosts:
            - name: inbound
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: "inbound|8080||"}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: "outbound|80||front-end.sock-shop.svc.cluster.local"
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: "outbound|80||front-end.sock-shop.svc.cluster.local"
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: "{{POD_IP}}", port_value: 8080}}}
  - name: "inbound|8080||"
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: "inbound|8080||"
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: "{{LOCAL}}", port_value: 8080}}}
`

func TestEnvoyHelpersAgainstStaticSidecar(t *testing.T) {
	envoy := MustEnvoy(t)
	echo := BuildEcho(t)
	a := AllocPod(t, 8080)
	app := Start(t, Proc{Label: "echo", Path: echo, Args: []string{"--listen", net.JoinHostPort(a.Local, "8080"), "--pod", "front-end-v1", "--version", "v1", "--service", "front-end"}})
	boot := strings.NewReplacer("{{POD_IP}}", a.PodIP, "{{LOCAL}}", a.Local).Replace(staticSidecar)
	path := filepath.Join(LogDir(t), "bootstrap.yaml")
	if err := os.WriteFile(path, []byte(boot), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := Start(t, Proc{Label: "envoy", Path: envoy, Args: []string{"-c", path, "--disable-hot-restart", "--log-level", "warn"}})
	admin := net.JoinHostPort(a.Local, "15000")
	if err := WaitHTTP("http://"+net.JoinHostPort(a.Local, "8080")+"/", 10*time.Second); err != nil {
		t.Fatal(app.CheckRunning(), err)
	}
	if err := WaitEnvoyReady(admin, 30*time.Second); err != nil {
		t.Fatal(proxy.CheckRunning(), err)
	}

	c, err := WaitForCluster(admin, "outbound|80||front-end.sock-shop.svc.cluster.local", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(c.Hosts()), fmt.Sprintf("[%s:8080]", a.PodIP); got != want {
		t.Errorf("hosts = %s, want %s", got, want)
	}
	if _, err := WaitForCluster(admin, "outbound|80||nope.sock-shop.svc.cluster.local", 200*time.Millisecond); err == nil {
		t.Errorf("WaitForCluster found a cluster that does not exist")
	}

	client := ProxyClient(a.Local)
	for _, host := range []string{"front-end", "front-end.sock-shop", "front-end.sock-shop:80", "front-end.sock-shop.svc.cluster.local:80"} {
		ans, err := WaitForRoute(client, "http://"+host+"/x", nil, 10*time.Second, nil)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if ans.ServedBy != "front-end-v1" || ans.Echo.Version != "v1" || ans.Echo.Path != "/x" || ans.Echo.Host != host {
			t.Errorf("%s: answer %v", host, ans)
		}
	}
	if ans, err := Get(client, "http://catalogue.sock-shop/", ""); err != nil || ans.Status != 404 || ans.Echo != nil {
		t.Errorf("unknown host: want Envoy's own 404, got %v %v", ans, err)
	}

	n, err := EnvoyStat(admin, "cluster.inbound|8080||.upstream_rq_total")
	if err != nil || n < 4 {
		t.Errorf("inbound upstream_rq_total = %d (%v), want >= 4", n, err)
	}
	if n, err := NackCount(admin); err != nil || n != 0 {
		t.Errorf("NackCount = %d, %v", n, err)
	}
	// (A static config has no xDS subscriptions, so no update_rejected
	// counters at all; the parsing of real ones is checked in
	// TestParseStatsAndNackCounters.)
	dump, err := EnvoyConfigDump(admin)
	if err != nil || !strings.Contains(string(dump), "outbound|80||front-end.sock-shop.svc.cluster.local") {
		t.Errorf("config dump (%v): %.300s", err, dump)
	}
}
