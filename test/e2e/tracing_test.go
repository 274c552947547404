package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// telemetryTrace100 is Istio's Telemetry resource (telemetry.istio.io/v1,
// as the tutorials write it) raising sampling to 100% in sock-shop.
const telemetryTrace100 = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: trace-everything
  namespace: sock-shop
spec:
  tracing:
  - providers:
    - name: zipkin
    randomSamplingPercentage: 100.0
`

// TestTracingToZipkin: with a Zipkin collector configured mesh-wide at 0%
// sampling and a Telemetry resource raising its namespace to 100%, one
// request from sleep to catalogue gives a span from each of the two
// sidecars, sharing one trace id: sleep's CLIENT span is the parent of
// catalogue's SERVER span.
func TestTracingToZipkin(t *testing.T) {
	zipkin := harness.StartZipkin(t)
	_, a := tracedRequest(t, map[string]string{"telemetry.yaml": telemetryTrace100},
		"--tracing-zipkin-address", zipkin.Addr, "--tracing-sampling", "0")
	// The server saw the trace id the client's sidecar made up (B3).
	traceID := a.Echo.Headers["x-b3-traceid"]
	if len(traceID) != 32 {
		t.Fatalf("catalogue got x-b3-traceid %q, want a 128-bit trace id", traceID)
	}
	var clientSpan, serverSpan harness.ZipkinSpan
	err := harness.Eventually(converge, 200*time.Millisecond, func() error {
		byService := map[string]harness.ZipkinSpan{}
		var seen []string
		for _, s := range zipkin.Spans() {
			seen = append(seen, s.LocalEndpoint.ServiceName+"/"+s.Kind+"/"+s.TraceID)
			if s.TraceID == traceID {
				byService[s.LocalEndpoint.ServiceName] = s
			}
		}
		var ok bool
		if clientSpan, ok = byService["sleep.sock-shop"]; !ok {
			sort.Strings(seen)
			return fmt.Errorf("no span of trace %s from sleep's sidecar (spans: %v)", traceID, seen)
		}
		if serverSpan, ok = byService["catalogue-v1.sock-shop"]; !ok {
			return fmt.Errorf("no span of trace %s from catalogue's sidecar (spans: %v)", traceID, seen)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if clientSpan.Kind != "CLIENT" || serverSpan.Kind != "SERVER" {
		t.Errorf("kinds: sleep %s, catalogue %s; want CLIENT and SERVER", clientSpan.Kind, serverSpan.Kind)
	}
	if serverSpan.ParentID != clientSpan.ID || serverSpan.ID == clientSpan.ID {
		t.Errorf("catalogue's span %s has parent %q, want sleep's span %s", serverSpan.ID, serverSpan.ParentID, clientSpan.ID)
	}
}

// TestTracingToOTLP: sidecars trace to an OpenTelemetry collector over
// OTLP/gRPC at 100% (the mesh-wide flag): one request gives a span from
// each sidecar in one trace (W3C trace context), and pilotlight sends its
// own spans there too: applying a change gives "apply snapshot" with a
// "translate" and a "push" per proxy under it.
func TestTracingToOTLP(t *testing.T) {
	otlp := harness.StartOTLP(t)
	m, a := tracedRequest(t, nil, "--tracing-otlp-address", otlp.Addr, "--tracing-sampling", "100", "--otlp-endpoint", otlp.Addr)
	traceparent := a.Echo.Headers["traceparent"]
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 {
		t.Fatalf("catalogue got traceparent %q, want W3C trace context", traceparent)
	}
	traceID := parts[1]
	// A change, so that pilotlight applies a snapshot to both proxies.
	orders := &harness.Service{Name: "orders", Namespace: ns, Selector: map[string]string{"app": "orders"},
		Ports: []harness.ServicePort{{Name: "http", Port: 80, TargetPort: 8080}}}
	m.WriteFile("orders.yaml", orders.YAML())
	err := harness.Eventually(converge, 200*time.Millisecond, func() error {
		services := map[string]harness.OTLPSpan{}
		var applies, children int
		applyIDs := map[string]bool{}
		spans := otlp.Spans()
		for _, s := range spans {
			if s.TraceID == traceID {
				services[s.Service] = s
			}
			if s.Service == "pilotlight" && s.Name == "apply snapshot" {
				applies++
				applyIDs[s.SpanID] = true
			}
		}
		for _, s := range spans {
			if s.Service == "pilotlight" && (s.Name == "translate" || s.Name == "push") && applyIDs[s.ParentID] {
				children++
			}
		}
		c, okc := services["sleep.sock-shop"]
		srv, oks := services["catalogue-v1.sock-shop"]
		switch {
		case !okc || !oks:
			return fmt.Errorf("trace %s has spans from %v, want sleep's and catalogue's sidecars", traceID, keys(services))
		case c.Kind != "SPAN_KIND_CLIENT" || srv.Kind != "SPAN_KIND_SERVER" || srv.ParentID != c.SpanID:
			return fmt.Errorf("client span %+v, server span %+v: want CLIENT parent of SERVER", c, srv)
		case applies == 0 || children == 0:
			return fmt.Errorf("pilotlight's own spans: %d \"apply snapshot\", %d translate/push under them", applies, children)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// tracedRequest starts sleep and catalogue-v1 behind sidecars, with files
// in the config folder and serveArgs, and sends one request from sleep to
// catalogue once routing works.
func tracedRequest(t *testing.T, files map[string]string, serveArgs ...string) (*harness.Mesh, *harness.Answer) {
	t.Helper()
	m := harness.NewMesh(t, ns)
	m.AddService("catalogue", 80, 8080)
	m.AddPod("catalogue-v1", map[string]string{"app": "catalogue", "version": "v1"})
	client := m.AddClient("sleep")
	m.ServeArgs = append(m.ServeArgs, serveArgs...)
	for name, content := range files {
		m.WriteFile(name, content)
	}
	m.Start()
	if _, err := harness.WaitForRoute(client.Client(), catalogueURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	a, err := harness.Get(client.Client(), catalogueURL+"traced", chromeUA)
	if err != nil || a.Status != 200 {
		t.Fatalf("GET: %v %v", a, err)
	}
	return m, a
}
