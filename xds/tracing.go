package xds

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pilotlight/pilotlight/discovery"
)

// The control plane's own spans (OpenTelemetry): one trace per mesh
// snapshot applied, "apply snapshot", with a "translate" and a "push" span
// per proxy. They go wherever the process's tracer provider sends them:
// nowhere unless serve --otlp-endpoint set one up (the global provider is a
// no-op, so this costs next to nothing otherwise).
var tracer = otel.Tracer("github.com/pilotlight/pilotlight/xds")

func startApplySpan(snap *discovery.Snapshot, kind string, proxies int) (context.Context, trace.Span) {
	return tracer.Start(context.Background(), "apply snapshot", trace.WithAttributes(
		attribute.Int64("pilotlight.snapshot.version", int64(snap.Version)),
		attribute.String("pilotlight.push.kind", kind),
		attribute.Int("pilotlight.proxies", proxies),
		attribute.Int("pilotlight.problems", len(snap.Problems)),
	))
}

func startProxySpan(ctx context.Context, name, nodeID string) trace.Span {
	_, span := tracer.Start(ctx, name, trace.WithAttributes(attribute.String("pilotlight.node", nodeID)))
	return span
}
