package translate

import (
	"path/filepath"
	"strings"
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
	telemetry "istio.io/api/telemetry/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/discovery/folder"
)

var telemetryOptions = TelemetryOptions{
	AccessLogCluster: TelemetryClusterName,
	Tracing:          Tracing{Provider: TracingZipkin, Address: "127.0.0.1:9411", SamplingPercent: DefaultSamplingPercent},
}

// Golden views with access logs and tracing on: every connection manager
// and tcp_proxy logs to pilotlight; sampling follows the Telemetry
// resources (sleep 5% from the root namespace, catalogue 50% from its
// namespace, db none from its workload's).
func TestGoldenTelemetryViews(t *testing.T) {
	snap, err := folder.Load("testdata/telemetry")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Problems) != 0 {
		t.Fatalf("problems: %v", snap.Problems)
	}
	mesh := NewMesh(snap, WithTelemetry(telemetryOptions))
	for _, pod := range snap.Pods {
		got := renderView(t, mesh.ForProxy(goldenProxy(pod)), snap.Problems)
		compareGolden(t, filepath.Join("testdata", "golden", "telemetry", pod.Namespace+"."+pod.Name+".yaml"), got)
	}
}

// Without telemetry options nothing changes: the views are those of NewMesh.
func TestNoTelemetryNoChange(t *testing.T) {
	snap, err := folder.Load("testdata/telemetry")
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range snap.Pods {
		a := renderView(t, NewMesh(snap).ForProxy(goldenProxy(pod)), nil)
		b := renderView(t, NewMesh(snap, WithTelemetry(TelemetryOptions{})).ForProxy(goldenProxy(pod)), nil)
		if string(a) != string(b) {
			t.Fatalf("%s: empty options changed the view", pod.Name)
		}
	}
}

func telemetryObject(ns, name string, selector map[string]string, tr *telemetry.Tracing) *discovery.Telemetry {
	spec := &telemetry.Telemetry{Tracing: []*telemetry.Tracing{tr}}
	if selector != nil {
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
	}
	return &discovery.Telemetry{Meta: discovery.Meta{Kind: "Telemetry", Namespace: ns, Name: name}, Spec: spec}
}

func pct(v float64) *wrapperspb.DoubleValue { return wrapperspb.Double(v) }

func TestSelectTracingPrecedence(t *testing.T) {
	pod := &discovery.Pod{Meta: discovery.Meta{Name: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web"}}}
	root := telemetryObject("istio-system", "mesh", nil, &telemetry.Tracing{RandomSamplingPercentage: pct(10)})
	ns := telemetryObject("shop", "ns", nil, &telemetry.Tracing{RandomSamplingPercentage: pct(20)})
	workload := telemetryObject("shop", "web", map[string]string{"app": "web"}, &telemetry.Tracing{RandomSamplingPercentage: pct(30)})
	otherWorkload := telemetryObject("shop", "api", map[string]string{"app": "api"}, &telemetry.Tracing{RandomSamplingPercentage: pct(99)})
	otherNS := telemetryObject("elsewhere", "ns", nil, &telemetry.Tracing{RandomSamplingPercentage: pct(77)})
	otherProvider := telemetryObject("shop", "jaeger", map[string]string{"app": "web"},
		&telemetry.Tracing{Providers: []*telemetry.ProviderRef{{Name: "jaeger"}}})
	off := telemetryObject("shop", "off", map[string]string{"app": "web"}, &telemetry.Tracing{DisableSpanReporting: wrapperspb.Bool(true)})
	tests := []struct {
		name     string
		objects  []*discovery.Telemetry
		sampling float64 // -1: none set
		disabled bool
	}{
		{"none", nil, -1, false},
		{"root", []*discovery.Telemetry{root, otherNS}, 10, false},
		{"namespace over root", []*discovery.Telemetry{root, ns}, 20, false},
		{"workload over namespace", []*discovery.Telemetry{root, ns, workload, otherWorkload}, 30, false},
		{"another provider turns it off", []*discovery.Telemetry{ns, otherProvider}, 20, true},
		{"disableSpanReporting", []*discovery.Telemetry{ns, off}, 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := (&discovery.Snapshot{Telemetries: tt.objects}).Seal()
			got := selectTracing(snap, pod, TracingZipkin)
			sampling := -1.0
			if got.sampling != nil {
				sampling = *got.sampling
			}
			if sampling != tt.sampling || got.disabled != tt.disabled {
				t.Errorf("sampling %v disabled %v, want %v %v", sampling, got.disabled, tt.sampling, tt.disabled)
			}
		})
	}
}

// A Telemetry that names only providers pilotlight does not trace to is a
// warning on the object: its workloads silently get no tracing otherwise.
func TestTelemetryProblemsNameUnknownProviders(t *testing.T) {
	provider := func(name string) *telemetry.Tracing {
		return &telemetry.Tracing{Providers: []*telemetry.ProviderRef{{Name: name}}}
	}
	objects := []*discovery.Telemetry{
		telemetryObject("shop", "jaeger", nil, provider("jaeger")),
		telemetryObject("shop", "zipkin", nil, provider(TracingZipkin)),
		telemetryObject("shop", "sampling-only", nil, &telemetry.Tracing{RandomSamplingPercentage: pct(5)}),
	}
	snap := (&discovery.Snapshot{Telemetries: objects}).Seal()
	tests := []struct {
		name    string
		tracing Tracing
		want    map[string]string // object → a part of its warning
	}{
		{"zipkin configured", telemetryOptions.Tracing, map[string]string{"shop/jaeger": `the configured provider is "zipkin"`}},
		{"nothing configured", Tracing{}, map[string]string{
			"shop/jaeger": "no tracing provider is configured", "shop/zipkin": "no tracing provider is configured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := telemetryProblems(snap, tt.tracing)
			if len(got) != len(tt.want) {
				t.Fatalf("%d problems, want %d: %v", len(got), len(tt.want), got)
			}
			for _, p := range got {
				part, ok := tt.want[p.Name]
				if !ok || p.Kind != "Telemetry" || p.Level != discovery.LevelWarning || p.Field != "spec.tracing[0].providers" || !strings.Contains(p.Reason, part) {
					t.Errorf("problem %+v, want a warning on spec.tracing[0].providers containing %q", p, part)
				}
			}
		})
	}
}

// Every proxy's view has one access log per connection manager and
// tcp_proxy, however many proxies were translated before it: the
// listeners captured sidecars share (virtualOutbound) are decorated as
// copies, not in place.
func TestAccessLogsAreAddedOncePerProxy(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	m := NewMesh(snap, WithTelemetry(TelemetryOptions{AccessLogCluster: "als"}))
	for round := range 3 {
		for _, pod := range snap.Pods {
			for _, mode := range []InterceptionMode{InterceptNone, InterceptRedirect} {
				res := m.ForProxy(Proxy{Type: Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace, Interception: mode})
				for _, l := range res.Listeners {
					for _, fc := range l.FilterChains {
						for _, f := range fc.Filters {
							if n := accessLogs(t, f); n > 1 {
								t.Fatalf("round %d, %s (%s): listener %s, chain %s: %d access logs", round, pod.Name, mode, l.Name, fc.Name, n)
							}
						}
					}
				}
			}
		}
	}
}

func accessLogs(t *testing.T, f *listener.Filter) int {
	t.Helper()
	switch f.Name {
	case wellknown.HTTPConnectionManager:
		m := &hcm.HttpConnectionManager{}
		if err := f.GetTypedConfig().UnmarshalTo(m); err != nil {
			t.Fatal(err)
		}
		return len(m.AccessLog)
	case wellknown.TCPProxy:
		tp := &tcpproxy.TcpProxy{}
		if err := f.GetTypedConfig().UnmarshalTo(tp); err != nil {
			t.Fatal(err)
		}
		return len(tp.AccessLog)
	}
	return 0
}
