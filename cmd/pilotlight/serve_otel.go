package main

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// startControlPlaneTracing sends pilotlight's own spans (snapshot ->
// translate -> push, xds/tracing.go) to an OTLP gRPC collector. With no
// endpoint it does nothing: the global tracer provider stays a no-op. The
// returned function flushes and stops the exporter.
func startControlPlaneTracing(ctx context.Context, endpoint, instance string) (func(context.Context) error, error) {
	if endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("--otlp-endpoint: %w", err)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "pilotlight"),
			attribute.String("service.instance.id", instance),
		)),
	)
	otel.SetTracerProvider(provider)
	return provider.Shutdown, nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
