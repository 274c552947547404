package translate

import (
	"fmt"
	"strings"

	"github.com/pilotlight/pilotlight/discovery"
)

// tracingChoice is what the Telemetry resources that apply to a proxy say
// about its tracing.
type tracingChoice struct {
	sampling *float64 // randomSamplingPercentage, when one says
	disabled bool     // disableSpanReporting, or another provider chosen
}

// selectTracing applies Istio's precedence: the root namespace's Telemetry
// (without selector), then the proxy's namespace's (without selector), then
// those whose selector matches the pod's labels; a later level overrides
// what it sets. Within a level the first by name counts, as Istio takes one.
// A Telemetry naming providers of which ours (provider) is not one turns
// tracing off at its level: those workloads trace to a provider we do not
// have.
func selectTracing(snap *discovery.Snapshot, pod *discovery.Pod, provider string) tracingChoice {
	var choice tracingChoice
	for _, t := range []*discovery.Telemetry{
		firstTelemetry(snap, snap.Root(), nil),
		firstTelemetry(snap, pod.Namespace, nil),
		firstTelemetry(snap, pod.Namespace, pod.Labels),
	} {
		if t != nil {
			applyTracing(&choice, t, provider)
		}
	}
	return choice
}

func applyTracing(choice *tracingChoice, t *discovery.Telemetry, provider string) {
	tracing := t.Spec.GetTracing()
	if len(tracing) == 0 || tracing[0].GetMatch() != nil {
		return
	}
	tr := tracing[0]
	if names := tr.GetProviders(); len(names) > 0 {
		ours := false
		for _, n := range names {
			ours = ours || n.GetName() == provider
		}
		choice.disabled = !ours
	}
	if d := tr.GetDisableSpanReporting(); d != nil {
		choice.disabled = d.GetValue()
	}
	if pct := tr.GetRandomSamplingPercentage(); pct != nil {
		v := pct.GetValue()
		choice.sampling = &v
	}
}

// firstTelemetry is the first Telemetry of namespace (by name) that has no
// selector (labels nil) or whose selector matches labels.
func firstTelemetry(snap *discovery.Snapshot, namespace string, labels map[string]string) *discovery.Telemetry {
	for _, t := range snap.Telemetries {
		if t.Namespace != namespace {
			continue
		}
		selector := t.Spec.GetSelector().GetMatchLabels()
		if labels == nil && len(selector) == 0 {
			return t
		}
		if labels != nil && len(selector) > 0 && hasLabels(labels, selector) {
			return t
		}
	}
	return nil
}

// telemetryProblems reports each Telemetry whose tracing names only
// providers this control plane does not trace to: the workloads it applies
// to get no tracing at all, which is easy to miss (Istio says nothing).
// A warning, since the object is served as Istio serves it.
func telemetryProblems(snap *discovery.Snapshot, t Tracing) []discovery.Problem {
	var out []discovery.Problem
	for _, tel := range snap.Telemetries {
		tracing := tel.Spec.GetTracing()
		if len(tracing) == 0 || len(tracing[0].GetProviders()) == 0 {
			continue
		}
		var names []string
		ours := false
		for _, n := range tracing[0].GetProviders() {
			names = append(names, n.GetName())
			ours = ours || (t.Enabled() && n.GetName() == t.ProviderName())
		}
		if ours {
			continue
		}
		have := "no tracing provider is configured (serve --tracing-zipkin-address or --tracing-otlp-address)"
		if t.Enabled() {
			have = fmt.Sprintf("the configured provider is %q (serve --tracing-provider-name)", t.ProviderName())
		}
		out = append(out, discovery.Problem{
			Level: discovery.LevelWarning, Source: tel.Key(), Kind: "Telemetry", Name: tel.Key(),
			Field:  "spec.tracing[0].providers",
			Reason: fmt.Sprintf("no provider named %s: %s; tracing is off for the workloads this Telemetry applies to", strings.Join(names, ", "), have),
		})
	}
	return out
}
