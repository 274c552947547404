package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// istioRequiredLabels are the labels every istio_requests_total series
// must carry (Kiali skips series missing any of them).
var istioRequiredLabels = []string{
	"reporter", "source_workload", "source_workload_namespace", "source_principal",
	"destination_workload", "destination_workload_namespace", "destination_service",
	"destination_service_name", "destination_service_namespace", "destination_principal",
	"destination_canonical_service", "destination_canonical_revision",
	"source_canonical_service", "source_canonical_revision",
	"request_protocol", "response_code", "response_flags", "connection_security_policy",
}

// TestIstioMetrics: with serve --istio-metrics, real requests through two
// sidecars (sleep's and the server's) show up at pilotlight's /metrics as
// Istio's standard metrics, counted exactly per response code by both
// reporters, with Istio's labels; the tutorial's selector
// istio_requests_total{destination_service="catalogue.sock-shop.svc.cluster.local"}
// matches.
func TestIstioMetrics(t *testing.T) {
	s := newSockShop(t, map[string]string{"dr.yaml": destinationRuleFrontEnd, "vs.yaml": virtualServiceFirefox})
	s.ServeArgs = append(s.ServeArgs, "--istio-metrics")
	s.Start()
	for _, u := range []string{frontEndURL, catalogueURL} {
		if _, err := harness.WaitForRoute(s.client.Client(), u, nil, converge, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The warm-up requests above were all answered 200; the requests counted
	// below get other codes, so that a warm-up entry still on its way
	// cannot be mistaken for one of them.
	before, err := harness.ScrapeMetrics(s.HTTPURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	sends := []struct {
		url  string
		code int
		n    int
	}{
		{frontEndURL + "status/201", 201, 7},
		{catalogueURL + "status/202", 202, 3},
		{catalogueURL + "status/404", 404, 4},
		{catalogueURL + "status/500", 500, 2},
	}
	for _, send := range sends {
		for i := 0; i < send.n; i++ {
			a, err := harness.Get(s.client.Client(), send.url, chromeUA)
			if err != nil || a.Status != send.code {
				t.Fatalf("GET %s: %v %v, want %d", send.url, a, err, send.code)
			}
		}
	}
	// A request that says it is gRPC (its content-type) is counted as
	// request_protocol grpc: Envoy logs the content-type because the
	// access log config asks for it. No grpc-status came back: "-".
	grpcHeader := http.Header{"Content-Type": {"application/grpc"}, "User-Agent": {chromeUA}}
	for i := 0; i < 2; i++ {
		if a, err := harness.Do(s.client.Client(), http.MethodGet, catalogueURL+"status/203", grpcHeader); err != nil || a.Status != 203 {
			t.Fatalf("gRPC-typed GET: %v %v, want 203", a, err)
		}
	}

	catalogue := map[string]string{
		"destination_service": "catalogue.sock-shop.svc.cluster.local", "destination_service_name": "catalogue",
		"destination_service_namespace": ns, "destination_workload": "catalogue-v1", "destination_workload_namespace": ns,
		"destination_canonical_service": "catalogue", "destination_canonical_revision": "v1",
		"source_workload": "sleep", "source_workload_namespace": ns, "source_canonical_service": "sleep",
		"source_canonical_revision": "latest", "request_protocol": "http", "response_flags": "-",
	}
	frontEnd := merge(catalogue, map[string]string{
		"destination_service": "front-end.sock-shop.svc.cluster.local", "destination_service_name": "front-end",
		"destination_workload": "front-end-v1", "destination_canonical_service": "front-end",
	})
	type count struct {
		labels map[string]string
		n      float64
	}
	var want []count
	// The sidecars talk mutual TLS (auto-mTLS): the server's side sees the
	// client's certificate, and so its SPIFFE identity.
	const sleepSPIFFE = "spiffe://cluster.local/ns/sock-shop/sa/default"
	for _, reporter := range []struct {
		name   string
		labels map[string]string
	}{
		{"source", map[string]string{"connection_security_policy": "unknown"}},
		{"destination", map[string]string{"connection_security_policy": "mutual_tls", "source_principal": sleepSPIFFE, "destination_principal": sleepSPIFFE}},
	} {
		side := merge(map[string]string{"reporter": reporter.name}, reporter.labels)
		want = append(want,
			count{merge(frontEnd, side, map[string]string{"response_code": "201"}), 7},
			count{merge(catalogue, side, map[string]string{"response_code": "202"}), 3},
			count{merge(catalogue, side, map[string]string{"response_code": "404"}), 4},
			count{merge(catalogue, side, map[string]string{"response_code": "500"}), 2},
			count{merge(catalogue, side, map[string]string{"response_code": "203", "request_protocol": "grpc", "grpc_response_status": "-"}), 2},
		)
	}
	var after harness.Metrics
	err = harness.Eventually(converge, 200*time.Millisecond, func() error {
		var err error
		if after, err = harness.ScrapeMetrics(s.HTTPURL("/metrics")); err != nil {
			return err
		}
		for _, w := range want {
			got := after.Sum("istio_requests_total", w.labels) - before.Sum("istio_requests_total", w.labels)
			if got != w.n {
				return fmt.Errorf("istio_requests_total%v grew by %g, want %g", w.labels, got, w.n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\nall series: %v", err, after.Select("istio_requests_total", nil))
	}
	for _, series := range after.Select("istio_requests_total", nil) {
		for _, l := range istioRequiredLabels {
			if series.Labels[l] == "" {
				t.Errorf("series %v has no label %s", series, l)
			}
		}
	}
	// The tutorial's selector, and the histograms beside the counter.
	tutorial := map[string]string{"destination_service": "catalogue.sock-shop.svc.cluster.local"}
	if len(after.Select("istio_requests_total", tutorial)) == 0 {
		t.Error(`istio_requests_total{destination_service="catalogue.sock-shop.svc.cluster.local"} matches nothing`)
	}
	for _, name := range []string{"istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"} {
		var got float64
		for _, code := range []string{"202", "404", "500"} {
			sel := merge(tutorial, map[string]string{"reporter": "source", "response_code": code})
			got += after.Sum(name, sel) - before.Sum(name, sel)
		}
		if got != 9 {
			t.Errorf("%s%v: %g more observations of the 9 catalogue requests", name, tutorial, got)
		}
	}
}

// TestIstioTCPMetrics: TCP connections through two sidecars are counted in
// istio_tcp_received_bytes_total (the client's bytes: exactly "ping\n" per
// connection), istio_tcp_sent_bytes_total (the greeting and the echo) and
// istio_tcp_connections_closed_total, by both reporters.
func TestIstioTCPMetrics(t *testing.T) {
	m := harness.NewMesh(t, ns)
	m.Services = append(m.Services, &harness.Service{Name: "tcp-echo", Namespace: ns, Selector: map[string]string{"app": "tcp-echo"},
		Ports: []harness.ServicePort{{Name: "tcp", Port: tcpEchoPort, TargetPort: tcpEchoPort}}})
	server := m.AddPod("tcp-echo-v1", map[string]string{"app": "tcp-echo", "version": "v1"})
	server.NoApp, server.Ports = true, []harness.ContainerPort{{Name: "tcp", Port: tcpEchoPort}}
	client := m.AddClient("sleep")
	m.ServeArgs = append(m.ServeArgs, "--istio-metrics")
	m.Start()
	harness.StartStreamApp(m, server, tcpEchoPort, "tcp", "", "")
	addr := net.JoinHostPort(client.Local, strconv.Itoa(tcpEchoPort))
	if _, err := harness.WaitForStream(addr, nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	closed := func(reporter string) map[string]string {
		return map[string]string{"reporter": reporter, "source_workload": "sleep", "destination_workload": "tcp-echo-v1",
			"destination_service": "tcp-echo.sock-shop.svc.cluster.local", "request_protocol": "tcp"}
	}
	var before harness.Metrics
	err := harness.Eventually(converge, 200*time.Millisecond, func() error {
		var err error
		if before, err = harness.ScrapeMetrics(m.HTTPURL("/metrics")); err != nil {
			return err
		}
		for _, r := range []string{"source", "destination"} {
			if before.Sum("istio_tcp_connections_closed_total", closed(r)) < 1 {
				return fmt.Errorf("the warm-up connection is not counted by the %s yet", r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := 0; i < n; i++ {
		if _, err := harness.DialStream(addr, nil); err != nil {
			t.Fatal(err)
		}
	}
	err = harness.Eventually(converge, 200*time.Millisecond, func() error {
		after, err := harness.ScrapeMetrics(m.HTTPURL("/metrics"))
		if err != nil {
			return err
		}
		grew := func(name string, labels map[string]string) float64 {
			return after.Sum(name, labels) - before.Sum(name, labels)
		}
		for _, r := range []string{"source", "destination"} {
			labels := closed(r)
			if got := grew("istio_tcp_connections_closed_total", labels); got != n {
				return fmt.Errorf("istio_tcp_connections_closed_total%v grew by %g, want %d", labels, got, n)
			}
			if got := grew("istio_tcp_received_bytes_total", labels); got != n*float64(len("ping\n")) {
				return fmt.Errorf("istio_tcp_received_bytes_total%v grew by %g, want %d", labels, got, n*len("ping\n"))
			}
			if got := grew("istio_tcp_sent_bytes_total", labels); got <= n*float64(len("ping\n")) {
				return fmt.Errorf("istio_tcp_sent_bytes_total%v grew by %g, want more than the echoes", labels, got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
