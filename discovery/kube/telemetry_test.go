package kube

import (
	"context"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"
	telemetry "istio.io/api/telemetry/v1alpha1"
	telemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestTelemetryFromCluster: Telemetry resources are read from the cluster
// into the snapshot (their tracing part), an invalid one is reported on its
// field and left out, and a change to one is published.
func TestTelemetryFromCluster(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v1"))
	sampling := &telemetryv1.Telemetry{ObjectMeta: objectMeta("sampling", nil), Spec: telemetry.Telemetry{
		Tracing: []*telemetry.Tracing{{RandomSamplingPercentage: wrapperspb.Double(10)}},
	}}
	bad := &telemetryv1.Telemetry{ObjectMeta: objectMeta("too-much", nil), Spec: telemetry.Telemetry{
		Tracing: []*telemetry.Tracing{{RandomSamplingPercentage: wrapperspb.Double(150)}},
	}}
	istio = append(istio, []runtime.Object{sampling, bad}...)
	h := startSource(t, kube, istio)
	snap := h.next()
	if len(snap.Telemetries) != 1 || snap.Telemetries[0].Name != "sampling" ||
		snap.Telemetries[0].Spec.GetTracing()[0].GetRandomSamplingPercentage().GetValue() != 10 {
		t.Fatalf("Telemetries %v, want sampling alone", snap.Telemetries)
	}
	if len(snap.Problems) != 1 || snap.Problems[0].Name != ns+"/too-much" || snap.Problems[0].Field != "spec.tracing[0].randomSamplingPercentage" {
		t.Errorf("problems %v, want too-much's randomSamplingPercentage", snap.Problems)
	}

	sampling.Spec.Tracing[0].RandomSamplingPercentage = wrapperspb.Double(50)
	sampling.ResourceVersion = "2"
	if _, err := h.istio.TelemetryV1().Telemetries(ns).Update(context.Background(), sampling, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if next := h.next(); next.Telemetries[0].Spec.GetTracing()[0].GetRandomSamplingPercentage().GetValue() != 50 {
		t.Errorf("after the update: %v", next.Telemetries[0].Spec.GetTracing())
	}
}
