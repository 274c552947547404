package folder

import (
	telemetry "istio.io/api/telemetry/v1alpha1"
	telemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"
	telemetryv1alpha1 "istio.io/client-go/pkg/apis/telemetry/v1alpha1"

	"github.com/pilotlight/pilotlight/discovery"
)

// Istio's Telemetry, in both served versions (the tracing part is used).
func init() {
	decoders["telemetry.istio.io/v1/Telemetry"] = decodeTelemetry[telemetryv1.Telemetry]
	decoders["telemetry.istio.io/v1alpha1/Telemetry"] = decodeTelemetry[telemetryv1alpha1.Telemetry]
}

func decodeTelemetry[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	spec := &telemetry.Telemetry{}
	meta, errs := decodeIstio[T, PT](doc, namespace, "Telemetry", spec)
	return &discovery.Telemetry{Meta: meta, Spec: spec}, errs
}
