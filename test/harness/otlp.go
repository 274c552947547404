package harness

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// OTLPSpan is the part of an OpenTelemetry span the tests read.
type OTLPSpan struct {
	Service  string // the resource's service.name
	TraceID  string // hex
	SpanID   string
	ParentID string
	Name     string
	Kind     string // SPAN_KIND_CLIENT, ...
}

// OTLP is a tiny OpenTelemetry collector: the OTLP gRPC trace service on
// 127.0.0.1, keeping every span it is sent until the test ends.
type OTLP struct {
	collectortrace.UnimplementedTraceServiceServer
	Addr string

	mu    sync.Mutex
	spans []OTLPSpan
}

// StartOTLP starts a collector on a free 127.0.0.1 port.
func StartOTLP(t testing.TB) *OTLP {
	t.Helper()
	o := &OTLP{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	o.Addr = ln.Addr().String()
	g := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(g, o)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return o
}

// Export receives spans.
func (o *OTLP) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	var got []OTLPSpan
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, OTLPSpan{
					Service: service, TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: s.GetKind().String(),
				})
			}
		}
	}
	o.mu.Lock()
	o.spans = append(o.spans, got...)
	o.mu.Unlock()
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// Spans returns the spans received so far.
func (o *OTLP) Spans() []OTLPSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]OTLPSpan(nil), o.spans...)
}
