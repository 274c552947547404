package discovery

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"
	telemetry "istio.io/api/telemetry/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"
)

func TestValidateTelemetry(t *testing.T) {
	tests := []struct {
		name   string
		spec   *telemetry.Telemetry
		keep   bool
		fields []string // fields of the problems, in any order
	}{
		{"tracing subset", &telemetry.Telemetry{Tracing: []*telemetry.Tracing{{
			Providers: []*telemetry.ProviderRef{{Name: "zipkin"}}, RandomSamplingPercentage: wrapperspb.Double(10)}}}, true, nil},
		{"sampling out of range", &telemetry.Telemetry{Tracing: []*telemetry.Tracing{{RandomSamplingPercentage: wrapperspb.Double(101)}}},
			false, []string{"spec.tracing[0].randomSamplingPercentage"}},
		{"targetRefs", &telemetry.Telemetry{TargetRefs: []*typev1beta1.PolicyTargetReference{{Kind: "Gateway", Name: "gw"}}},
			false, []string{"spec.targetRefs"}},
		{"unimplemented parts are reported and ignored", &telemetry.Telemetry{
			Metrics:       []*telemetry.Metrics{{}},
			AccessLogging: []*telemetry.AccessLogging{{}},
			Tracing: []*telemetry.Tracing{{
				Match:      &telemetry.Tracing_TracingSelector{Mode: telemetry.WorkloadMode_CLIENT},
				CustomTags: map[string]*telemetry.Tracing_CustomTag{"x": {}},
			}, {}},
		}, true, []string{"spec.metrics", "spec.accessLogging", "spec.tracing[0].match", "spec.tracing[0].customTags", "spec.tracing[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := ValidateTelemetry(&Telemetry{Meta: Meta{Namespace: "ns", Name: "t"}, Spec: tt.spec})
			keep := !slices.ContainsFunc(problems, func(p Problem) bool { return p.Level == "" })
			if keep != tt.keep {
				t.Errorf("keep = %v, want %v", keep, tt.keep)
			}
			got := map[string]bool{}
			for _, p := range problems {
				got[p.Field] = true
				if p.Kind != "Telemetry" || p.Name != "ns/t" || p.Reason == "" {
					t.Errorf("problem %+v does not name the object", p)
				}
			}
			for _, f := range tt.fields {
				if !got[f] {
					t.Errorf("no problem for %s (got %v)", f, problems)
				}
			}
			if len(problems) != len(tt.fields) {
				t.Errorf("%d problems, want %d: %v", len(problems), len(tt.fields), problems)
			}
		})
	}
	// Validate drops what cannot be kept and keeps the rest.
	s := &Snapshot{Telemetries: []*Telemetry{
		{Meta: Meta{Namespace: "ns", Name: "bad"}, Spec: tests[1].spec},
		{Meta: Meta{Namespace: "ns", Name: "good"}, Spec: tests[0].spec},
	}}
	problems := Validate(s)
	if len(s.Telemetries) != 1 || s.Telemetries[0].Name != "good" || len(problems) != 1 || !strings.Contains(problems[0].Reason, "between 0 and 100") {
		t.Fatalf("after Validate: %v, problems %v", s.Telemetries, problems)
	}
}
