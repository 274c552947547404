package discovery

import (
	telemetry "istio.io/api/telemetry/v1alpha1"
)

// Telemetry is an Istio Telemetry (telemetry.istio.io, v1 or v1alpha1).
// pilotlight implements its tracing part: providers and
// randomSamplingPercentage (and disableSpanReporting), for the mesh (in the
// root namespace, Snapshot.Root), a namespace, or the workloads its selector matches.
type Telemetry struct {
	Meta
	Spec *telemetry.Telemetry
}

// ValidateTelemetry reports what of a Telemetry cannot be used. An error
// means the object is skipped as a whole (its tracing cannot be read; its
// last good version is served instead); parts pilotlight does not
// implement are warnings: reported, ignored, and the rest is served.
func ValidateTelemetry(t *Telemetry) []Problem {
	p := newProblemList("Telemetry", t.Meta)
	spec := t.Spec
	if len(spec.GetTargetRefs()) > 0 || spec.GetTargetRef() != nil {
		p.add("spec.targetRefs", "targetRefs are not implemented (use spec.selector); the Telemetry is ignored")
	}
	if len(spec.GetMetrics()) > 0 {
		p.warn("spec.metrics", "not implemented: ignored (metrics come from access logs, serve --istio-metrics)")
	}
	if len(spec.GetAccessLogging()) > 0 {
		p.warn("spec.accessLogging", "not implemented: ignored")
	}
	for i, tr := range spec.GetTracing() {
		path := fieldIndex("spec.tracing", i)
		if tr.GetMatch() != nil {
			p.warn(path+".match", "tracing by mode (CLIENT or SERVER) is not implemented: this tracing entry is ignored")
		}
		if pct := tr.GetRandomSamplingPercentage(); pct != nil && (pct.GetValue() < 0 || pct.GetValue() > 100) {
			p.add(path+".randomSamplingPercentage", "must be between 0 and 100, not %v", pct.GetValue())
		}
		for field, set := range map[string]bool{
			"customTags":                   len(tr.GetCustomTags()) > 0,
			"useRequestIdForTraceSampling": tr.GetUseRequestIdForTraceSampling() != nil,
			"enableIstioTags":              tr.GetEnableIstioTags() != nil,
			"disableContextPropagation":    tr.GetDisableContextPropagation() != nil,
		} {
			if set {
				p.warn(path+"."+field, "not implemented: ignored")
			}
		}
	}
	if len(spec.GetTracing()) > 1 {
		p.warn("spec.tracing[1]", "only the first tracing entry is used")
	}
	return p.list
}
