package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestPrometheusStats: every sidecar and the gateway serve Prometheus stats
// on :15090 of their local address, and only /stats/prometheus there. The
// client sidecar's upstream request counters carry who sent them
// (source_workload, source_workload_namespace) and where to
// (destination_service, destination_version from the subset, the cluster's
// Istio name), with counts equal to the requests sent, per response code.
func TestPrometheusStats(t *testing.T) {
	s := newSockShop(t, map[string]string{"dr.yaml": destinationRuleFrontEnd, "vs.yaml": virtualServiceFirefox})
	gw := harness.AddGateway(s.Mesh, "ingressgateway", map[string]string{"istio": "ingressgateway"}, 18080)
	s.Start()
	gw.Start()
	if _, err := harness.WaitForRoute(s.client.Client(), frontEndURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForRoute(s.client.Client(), catalogueURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	before, err := harness.ScrapeMetrics(harness.StatsURL(s.client.Local))
	if err != nil {
		t.Fatal(err)
	}
	sends := []struct {
		url, ua string
		code    int
		n       int
	}{
		{frontEndURL, chromeUA, 200, 5},                 // v1
		{frontEndURL, firefoxUA, 200, 3},                // v2
		{catalogueURL + "status/404", chromeUA, 404, 4}, // not retried
		{catalogueURL, chromeUA, 200, 2},
	}
	for _, send := range sends {
		for i := 0; i < send.n; i++ {
			a, err := harness.Get(s.client.Client(), send.url, send.ua)
			if err != nil || a.Status != send.code {
				t.Fatalf("GET %s: %v %v, want %d", send.url, a, err, send.code)
			}
		}
	}
	source := map[string]string{"source_workload": "sleep", "source_workload_namespace": ns}
	want := []struct {
		labels map[string]string
		n      float64
	}{
		{map[string]string{"cluster_name": frontEndV1Cluster, "destination_service": "front-end.sock-shop.svc.cluster.local", "destination_version": "v1", "destination_port": "80", "envoy_response_code": "200"}, 5},
		{map[string]string{"cluster_name": frontEndV2Cluster, "destination_service": "front-end.sock-shop.svc.cluster.local", "destination_version": "v2", "envoy_response_code": "200"}, 3},
		{map[string]string{"cluster_name": catalogueCluster, "destination_service": "catalogue.sock-shop.svc.cluster.local", "envoy_response_code": "404"}, 4},
		{map[string]string{"cluster_name": catalogueCluster, "destination_service": "catalogue.sock-shop.svc.cluster.local", "envoy_response_code": "200"}, 2},
	}
	// Envoy flushes stats every 5 s by default; counters are read live on
	// the admin page, but wait until they add up rather than assume.
	err = harness.Eventually(converge, 200*time.Millisecond, func() error {
		after, err := harness.ScrapeMetrics(harness.StatsURL(s.client.Local))
		if err != nil {
			return err
		}
		for _, w := range want {
			labels := merge(source, w.labels)
			series := after.Select("envoy_cluster_upstream_rq", labels)
			if len(series) != 1 {
				return fmt.Errorf("envoy_cluster_upstream_rq%v: %d series, want 1 (all: %v)", labels, len(series), after.Select("envoy_cluster_upstream_rq", nil))
			}
			if got := series[0].Value - before.Sum("envoy_cluster_upstream_rq", labels); got != w.n {
				return fmt.Errorf("envoy_cluster_upstream_rq%v grew by %g, want %g", labels, got, w.n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every embedded tag was cut out of the names: none is left in one.
	for name := range before {
		if strings.Contains(name, "svc_cluster_local") || strings.Contains(name, "cluster_name") || strings.Contains(name, "8080") {
			t.Errorf("metric %s still has a cluster's name in it", name)
		}
	}

	// The server side: catalogue's sidecar counts what it received, tagged
	// as catalogue-v1's, with the inbound cluster's name.
	inbound, err := harness.ScrapeMetrics(harness.StatsURL(s.catalogue.Local))
	if err != nil {
		t.Fatal(err)
	}
	if got := inbound.Sum("envoy_cluster_upstream_rq", map[string]string{"cluster_name": inboundCluster, "source_workload": "catalogue-v1", "envoy_response_code": "404"}); got < 4 {
		t.Errorf("catalogue's sidecar: inbound 404s %g, want at least 4", got)
	}
	// The gateway too, and only the stats page is served on :15090.
	gwStats, err := harness.ScrapeMetrics(harness.StatsURL(gw.Local))
	if err != nil {
		t.Fatal(err)
	}
	if got := gwStats.Sum("envoy_server_live", map[string]string{"source_workload": "ingressgateway", "source_workload_namespace": ns}); got != 1 {
		t.Errorf("gateway: envoy_server_live{source_workload=ingressgateway} = %g, want 1", got)
	}
	for _, path := range []string{"/config_dump", "/quitquitquit", "/stats"} {
		resp, err := http.Get("http://" + s.client.Local + ":15090" + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET :15090%s: %s, want 404 (only the stats page is served there)", path, resp.Status)
		}
	}
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
