package main

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/pilotlight/pilotlight/telemetry"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/ui"
	"github.com/pilotlight/pilotlight/xds"
)

// telemetryFlags are serve's flags for the mesh's telemetry: Istio's
// request metrics from access logs, and tracing.
type telemetryFlags struct {
	istioMetrics bool
	zipkin       string
	otlp         string
	providerName string
	sampling     float64
	otlpEndpoint string // the control plane's own spans (serve_otel.go)
}

func (t *telemetryFlags) addTo(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&t.istioMetrics, "istio-metrics", false, "export Istio's request metrics (istio_requests_total, ...) at /metrics, "+
		"from access logs every proxy streams to pilotlight's xDS port (Envoy's gRPC access log service)")
	f.StringVar(&t.zipkin, "tracing-zipkin-address", "", "trace to a Zipkin collector at HOST:PORT (its /api/v2/spans)")
	f.StringVar(&t.otlp, "tracing-otlp-address", "", "trace to an OpenTelemetry (OTLP gRPC) collector at HOST:PORT")
	f.StringVar(&t.providerName, "tracing-provider-name", "", "the provider's name in Telemetry resources' tracing.providers (default zipkin or opentelemetry)")
	f.StringVar(&t.otlpEndpoint, "otlp-endpoint", "", "send pilotlight's own OpenTelemetry spans (snapshot, translate, push) to this OTLP gRPC collector HOST:PORT (plaintext); off when empty")
	f.Float64Var(&t.sampling, "tracing-sampling", translate.DefaultSamplingPercent, "percentage of requests traced, mesh-wide (Telemetry resources override it)")
}

// meshOptions are the translation options the flags ask for.
func (t *telemetryFlags) meshOptions() (translate.TelemetryOptions, error) {
	var o translate.TelemetryOptions
	if t.istioMetrics {
		// Entries go to the cluster every proxy already has: the one to us.
		o.AccessLogCluster = translate.TelemetryClusterName
	}
	if t.zipkin != "" && t.otlp != "" {
		return o, fmt.Errorf("--tracing-zipkin-address and --tracing-otlp-address: give one")
	}
	if t.sampling < 0 || t.sampling > 100 {
		return o, fmt.Errorf("--tracing-sampling %v: want a percentage from 0 to 100", t.sampling)
	}
	o.Tracing = translate.Tracing{Name: t.providerName, SamplingPercent: t.sampling}
	switch {
	case t.zipkin != "":
		o.Tracing.Provider, o.Tracing.Address = translate.TracingZipkin, t.zipkin
	case t.otlp != "":
		o.Tracing.Provider, o.Tracing.Address = translate.TracingOpenTelemetry, t.otlp
	}
	if o.Tracing.Address != "" {
		if err := translate.CheckTracingAddress(o.Tracing.Address); err != nil {
			return o, fmt.Errorf("tracing collector address: %w", err)
		}
	}
	return o, nil
}

// register adds the access log sink to the xDS gRPC server when asked,
// and returns it (nil otherwise).
func (t *telemetryFlags) register(g *grpc.Server, reg prometheus.Registerer, server *xds.Server, log *slog.Logger) *telemetry.Sink {
	if !t.istioMetrics {
		return nil
	}
	sink := telemetry.NewSink(reg, server.Snapshot, log)
	sink.Register(g)
	return sink
}

// webView is the /ui page: the graph's edges come from the sink.
func webView(server *xds.Server, sink *telemetry.Sink) http.Handler {
	src := ui.Source{Snapshot: server.Snapshot, Proxies: server.Proxies}
	if sink != nil {
		src.Edges = sink.Graph
	}
	return ui.Handler(src)
}
