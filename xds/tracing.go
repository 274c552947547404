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
// no-op, and the spans under "apply snapshot" are not even started then).
var tracer = otel.Tracer("github.com/pilotlight/pilotlight/xds")

func startApplySpan(snap *discovery.Snapshot, kind string, proxies int) (context.Context, trace.Span) {
	return tracer.Start(context.Background(), "apply snapshot", trace.WithAttributes(
		attribute.Int64("pilotlight.snapshot.version", int64(snap.Version)),
		attribute.String("pilotlight.push.kind", kind),
		attribute.Int("pilotlight.proxies", proxies),
		attribute.Int("pilotlight.problems", len(snap.Problems)),
	))
}

// startProxySpan starts a span about one proxy, when its parent is
// recorded: with no tracer set up, the attribute alone cost an allocation
// per proxy and change.
func startProxySpan(ctx context.Context, name, nodeID string) trace.Span {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return trace.SpanFromContext(ctx)
	}
	_, span := tracer.Start(ctx, name, trace.WithAttributes(attribute.String("pilotlight.node", nodeID)))
	return span
}
