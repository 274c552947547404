package telemetry

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/translate"
)

// The demo mesh: sleep 127.10.0.9, front-end-v1 .1, front-end-v2 .2,
// catalogue-v1 .3.
func demoSink(t testing.TB) (*Sink, *prometheus.Registry) {
	t.Helper()
	snap, err := folder.Load("../examples/sockshop")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	return NewSink(reg, func() *discovery.Snapshot { return snap }, slog.New(slog.NewTextHandler(io.Discard, nil))), reg
}

func addr(ip string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address: ip, PortSpecifier: &core.SocketAddress_PortValue{PortValue: port}}}}
}

func origin(pod, logName string) streamOrigin {
	p := translate.Proxy{Type: translate.Sidecar, IP: "127.10.0.9", PodName: pod, Namespace: "sock-shop"}
	return streamOrigin{nodeID: p.NodeID(), proxy: p, logName: logName}
}

func httpEntry(c *accesslogdata.AccessLogCommon, authority string, code uint32) *accesslogsvc.StreamAccessLogsMessage {
	if c.Duration == nil {
		c.Duration = durationpb.New(12 * time.Millisecond)
	}
	e := &accesslogdata.HTTPAccessLogEntry{
		CommonProperties: c,
		Request:          &accesslogdata.HTTPRequestProperties{Authority: authority, RequestHeadersBytes: 80, RequestBodyBytes: 20},
		Response:         &accesslogdata.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(code), ResponseHeadersBytes: 100, ResponseBodyBytes: 900},
	}
	return &accesslogsvc.StreamAccessLogsMessage{LogEntries: &accesslogsvc.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &accesslogsvc.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: []*accesslogdata.HTTPAccessLogEntry{e}}}}
}

// series renders one istio_requests_total series, as Prometheus does.
func series(reg *prometheus.Registry, name string, match map[string]string) []string {
	fams, _ := reg.Gather()
	var out []string
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			labels := map[string]string{}
			var parts []string
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
			for k, v := range match {
				if labels[k] != v {
					continue next
				}
			}
			out = append(out, strings.Join(parts, ","))
		}
	}
	return out
}

func TestAttributionBothReporters(t *testing.T) {
	s, reg := demoSink(t)
	// sleep's outbound: to catalogue's cluster, reaching catalogue-v1's pod IP.
	s.record(origin("sleep", translate.AccessLogSource), httpEntry(&accesslogdata.AccessLogCommon{
		UpstreamCluster:       "outbound|80||catalogue.sock-shop.svc.cluster.local",
		UpstreamRemoteAddress: addr("127.10.0.3", 8080),
	}, "catalogue.sock-shop", 200))
	// catalogue-v1's inbound: from sleep's pod IP, Host catalogue.
	s.record(origin("catalogue-v1", translate.AccessLogDestination), httpEntry(&accesslogdata.AccessLogCommon{
		UpstreamCluster:               "inbound|8080||",
		DownstreamDirectRemoteAddress: addr("127.10.0.9", 40000),
		DownstreamLocalAddress:        addr("127.10.0.3", 8080),
	}, "catalogue.sock-shop", 200))
	want := map[string]string{
		"source_workload": "sleep", "source_canonical_revision": "latest", "destination_workload": "catalogue-v1",
		"destination_service": "catalogue.sock-shop.svc.cluster.local", "destination_service_name": "catalogue",
		"destination_canonical_revision": "v1", "response_code": "200", "response_flags": "-", "request_protocol": "http",
	}
	for reporter, policy := range map[string]string{"source": "unknown", "destination": "none"} {
		m := map[string]string{"reporter": reporter, "connection_security_policy": policy}
		for k, v := range want {
			m[k] = v
		}
		if got := series(reg, "istio_requests_total", m); len(got) != 1 {
			t.Errorf("reporter %s: %d series match %v; all: %v", reporter, len(got), m, series(reg, "istio_requests_total", nil))
		}
	}
	if n := testutil.CollectAndCount(s.metrics.duration); n != 2 {
		t.Errorf("duration: %d series, want 2", n)
	}
}

// A proxy's log is untrusted input: nothing in it may mint label values
// the mesh does not have.
func TestHostileEntriesMintNoLabels(t *testing.T) {
	s, reg := demoSink(t)
	s.record(origin("sleep", translate.AccessLogSource), httpEntry(&accesslogdata.AccessLogCommon{
		UpstreamCluster:       "outbound|80||evil-" + strings.Repeat("x", 100) + ".svc.cluster.local",
		UpstreamRemoteAddress: addr("10.66.6.6", 80),
	}, "evil.example.com", 9999))
	got := series(reg, "istio_requests_total", map[string]string{"destination_service": "unknown", "destination_workload": "unknown", "response_code": "0"})
	if len(got) != 1 {
		t.Fatalf("want one series with unknown destination and code 0; all: %v", series(reg, "istio_requests_total", nil))
	}
	// A node that is not a pod of the mesh is dropped and counted.
	s.record(origin("not-a-pod", translate.AccessLogSource), httpEntry(&accesslogdata.AccessLogCommon{}, "", 200))
	if v := testutil.ToFloat64(s.metrics.dropped.WithLabelValues("unknown_proxy")); v != 1 {
		t.Errorf("dropped{unknown_proxy} = %v, want 1", v)
	}
	if n := testutil.CollectAndCount(s.metrics.requests); n != 1 {
		t.Errorf("%d series after an unknown proxy's entry, want 1", n)
	}
	// An identifier must name a node and one of our logs.
	for _, id := range []*accesslogsvc.StreamAccessLogsMessage_Identifier{
		{Node: &core.Node{Id: "garbage"}, LogName: translate.AccessLogSource},
		{Node: &core.Node{Id: origin("sleep", "").nodeID}, LogName: "other"},
	} {
		if _, err := originOf(id); err == nil {
			t.Errorf("identifier %v accepted", id)
		}
	}
}

// A stream is taken to be from the pod it names only when it comes from
// that pod's address.
func TestAccessLogStreamsProveTheirPod(t *testing.T) {
	s, _ := demoSink(t)
	ix := s.index.get()
	sleep := origin("sleep", translate.AccessLogSource) // pod IP 127.10.0.9
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.10.0.9:40000", true},
		{"127.10.0.3:40000", false}, // catalogue-v1's address
		{"127.0.0.1:40000", false},
	} {
		err := proveAddress(ix, sleep, &net.TCPAddr{IP: net.ParseIP(strings.Split(tt.addr, ":")[0]), Port: 40000})
		if (err == nil) != tt.ok {
			t.Errorf("from %s: %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
	if err := proveAddress(ix, origin("not-a-pod", translate.AccessLogSource), &net.TCPAddr{IP: net.ParseIP("127.10.0.9")}); err == nil {
		t.Error("a node that is no pod of the mesh passed")
	}
}

func TestResponseFlags(t *testing.T) {
	tests := []struct {
		f    *accesslogdata.ResponseFlags
		want string
	}{
		{nil, "-"},
		{&accesslogdata.ResponseFlags{}, "-"},
		{&accesslogdata.ResponseFlags{NoRouteFound: true}, "NR"},
		{&accesslogdata.ResponseFlags{UpstreamConnectionFailure: true, UpstreamRetryLimitExceeded: true}, "UF,URX"},
	}
	for _, tt := range tests {
		if got := responseFlags(tt.f); got != tt.want {
			t.Errorf("responseFlags(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

// BenchmarkRecordHTTP is the sink's cost per access log entry: with both
// reporters, one request costs two entries, so 1,000 requests/s cost
// 2,000 × this per second of one core.
func BenchmarkRecordHTTP(b *testing.B) {
	s, _ := demoSink(b)
	from := origin("sleep", translate.AccessLogSource)
	msg := httpEntry(&accesslogdata.AccessLogCommon{
		UpstreamCluster:       "outbound|80||catalogue.sock-shop.svc.cluster.local",
		UpstreamRemoteAddress: addr("127.10.0.3", 8080),
	}, "catalogue.sock-shop", 200)
	b.ReportAllocs()
	for b.Loop() {
		s.record(from, msg)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)*2, "µs-cpu/request(2-reporters)")
}

// BenchmarkDecodeAndRecordHTTP adds what gRPC does before the sink sees an
// entry: decoding it from the wire (Envoy batches entries; one per message
// here, the worst case).
func BenchmarkDecodeAndRecordHTTP(b *testing.B) {
	s, _ := demoSink(b)
	from := origin("sleep", translate.AccessLogSource)
	wire, err := proto.Marshal(httpEntry(&accesslogdata.AccessLogCommon{
		UpstreamCluster:       "outbound|80||catalogue.sock-shop.svc.cluster.local",
		UpstreamRemoteAddress: addr("127.10.0.3", 8080),
		StartTime:             timestamppb.Now(),
	}, "catalogue.sock-shop", 200))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		msg := &accesslogsvc.StreamAccessLogsMessage{}
		if err := proto.Unmarshal(wire, msg); err != nil {
			b.Fatal(err)
		}
		s.record(from, msg)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)*2, "µs-cpu/request(2-reporters)")
}

// A gRPC request (content-type application/grpc) is request_protocol grpc,
// with its grpc-status trailer (or header, trailers-only) as
// grpc_response_status; a status that is not one of gRPC's codes is "-".
func TestGRPCProtocolAndStatus(t *testing.T) {
	cases := []struct {
		name                string
		contentType         string
		headers, trailers   map[string]string
		protocol, grpcState string
	}{
		{"plain HTTP", "text/html", nil, nil, "http", "-"},
		{"gRPC trailer", "application/grpc", nil, map[string]string{"grpc-status": "14"}, "grpc", "14"},
		{"gRPC trailers-only", "application/grpc+proto", map[string]string{"grpc-status": "5"}, nil, "grpc", "5"},
		{"gRPC without status", "application/grpc", nil, nil, "grpc", "-"},
		{"hostile status", "application/grpc", nil, map[string]string{"grpc-status": "17; evil"}, "grpc", "-"},
		{"status beyond gRPC's codes", "application/grpc", nil, map[string]string{"grpc-status": "99"}, "grpc", "-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, reg := demoSink(t)
			msg := httpEntry(&accesslogdata.AccessLogCommon{
				UpstreamCluster:       "outbound|80||catalogue.sock-shop.svc.cluster.local",
				UpstreamRemoteAddress: addr("127.10.0.3", 8080),
			}, "catalogue.sock-shop", 200)
			e := msg.GetHttpLogs().GetLogEntry()[0]
			e.Request.RequestHeaders = map[string]string{"content-type": c.contentType}
			e.Response.ResponseHeaders, e.Response.ResponseTrailers = c.headers, c.trailers
			s.record(origin("sleep", translate.AccessLogSource), msg)
			want := map[string]string{"request_protocol": c.protocol, "grpc_response_status": c.grpcState}
			if got := series(reg, "istio_requests_total", want); len(got) != 1 {
				t.Errorf("want one series with %v; all: %v", want, series(reg, "istio_requests_total", nil))
			}
		})
	}
}
