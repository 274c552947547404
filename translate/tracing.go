package translate

import (
	"net"
	"net/netip"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/discovery"
)

// Tracing, as Istio configures it (pilot/pkg/networking/core/tracing.go):
// every connection manager traces to one collector; a request is sampled
// at random_sampling percent unless an upstream proxy already decided
// (client_sampling and overall_sampling stay at 100%). The percentage is,
// from weakest to strongest: the mesh default (1%, serve's flag), then
// Istio Telemetry resources' randomSamplingPercentage in the root
// namespace, the proxy's namespace, and those selecting its workload
// (telemetry_select.go).

// Tracing providers, by the kind serve's flag names.
const (
	TracingZipkin        = "zipkin"
	TracingOpenTelemetry = "opentelemetry"
)

// DefaultSamplingPercent is Istio's PILOT_TRACE_SAMPLING default.
const DefaultSamplingPercent = 1.0

// Tracing is the mesh-wide tracing provider.
type Tracing struct {
	Provider string // TracingZipkin, TracingOpenTelemetry, or "" for no tracing
	// Name is the provider's name in Telemetry resources' providers[].name
	// (MeshConfig's extensionProviders name); the provider kind when empty.
	Name string
	// Address is the collector's host:port: Zipkin's HTTP API, or an OTLP
	// gRPC receiver.
	Address string
	// SamplingPercent is the mesh-wide random sampling (serve's flag
	// defaults it to DefaultSamplingPercent).
	SamplingPercent float64
}

// Enabled tells whether a provider is configured.
func (t Tracing) Enabled() bool { return t.Provider != "" && t.Address != "" }

// ProviderName is how Telemetry resources refer to the provider.
func (t Tracing) ProviderName() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Provider
}

// tracingClusterName is the static cluster to the collector.
func (t Tracing) clusterName() string { return "tracing|" + t.Provider }

// proxyTracing is the tracing of one proxy, after Telemetry resources.
type proxyTracing struct {
	tracing  Tracing
	sampling float64
	service  string // the proxy's name in its spans: pod.namespace, as Zipkin's local endpoint
}

// manager is the connection manager's tracing: the provider's config and
// the sampling percentages. Spans are named by the listener's direction.
func (pt *proxyTracing) manager(core.TrafficDirection) *hcm.HttpConnectionManager_Tracing {
	return &hcm.HttpConnectionManager_Tracing{
		ClientSampling:  &typev3.Percent{Value: 100},
		RandomSampling:  &typev3.Percent{Value: pt.sampling},
		OverallSampling: &typev3.Percent{Value: 100},
		Provider:        pt.tracing.provider(pt.service),
	}
}

// provider is tracing.provider: Zipkin over its JSON v2 API with 128-bit
// trace ids and a span of its own per side (Istio's settings), or OTLP
// over gRPC.
func (t Tracing) provider(service string) *tracev3.Tracing_Http {
	var cfg proto.Message
	name := "envoy.tracers.zipkin"
	switch t.Provider {
	case TracingOpenTelemetry:
		name = "envoy.tracers.opentelemetry"
		cfg = &tracev3.OpenTelemetryConfig{
			GrpcService: &core.GrpcService{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: t.clusterName(), Authority: t.Address},
			}},
			ServiceName: service,
		}
	default:
		cfg = &tracev3.ZipkinConfig{
			CollectorCluster:         t.clusterName(),
			CollectorEndpoint:        "/api/v2/spans",
			CollectorEndpointVersion: tracev3.ZipkinConfig_HTTP_JSON,
			CollectorHostname:        t.Address,
			TraceId_128Bit:           true,
			SharedSpanContext:        wrapperspb.Bool(false),
		}
	}
	return &tracev3.Tracing_Http{Name: name, ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: mustAny(cfg)}}
}

// collectorCluster reaches the collector: STATIC for an IP address,
// STRICT_DNS for a name; HTTP/2 for OTLP's gRPC.
func (t Tracing) collectorCluster() *cluster.Cluster {
	host, port, err := splitHostPort(t.Address)
	if err != nil {
		return nil
	}
	c := &cluster.Cluster{
		Name:                 t.clusterName(),
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STRICT_DNS},
		ConnectTimeout:       durationSeconds(1),
		LoadAssignment:       loadAssignment(t.clusterName(), []hostPort{{host: host, port: port}}),
	}
	if _, err := netip.ParseAddr(host); err == nil {
		c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}
	}
	if t.Provider == TracingOpenTelemetry {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&upstreamhttp.HttpProtocolOptions{
				UpstreamProtocolOptions: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_{
					ExplicitHttpConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{
						ProtocolConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
							Http2ProtocolOptions: &core.Http2ProtocolOptions{},
						},
					},
				},
			}),
		}
	}
	return c
}

// CheckTracingAddress reports whether a collector address is usable.
func CheckTracingAddress(addr string) error {
	_, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	_, _, err = splitHostPort(addr)
	return err
}

// tracingCluster is the collector's cluster, built once per mesh and
// shared by every proxy that traces.
func (m *Mesh) tracingCluster() *cluster.Cluster {
	if c := m.tracingClusters(); len(c) > 0 {
		return c[0]
	}
	return nil
}

// tracingClusters is the collector's cluster as a list of one, the same
// list for every proxy (joinClusters).
func (m *Mesh) tracingClusters() []*cluster.Cluster {
	if !m.opts.Tracing.Enabled() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.collector == nil {
		m.collector = []*cluster.Cluster{m.opts.Tracing.collectorCluster()}
	}
	return m.collector
}

// tracingFor is the proxy's tracing, or nil when it traces nothing.
func (m *Mesh) tracingFor(pod *discovery.Pod) *proxyTracing {
	if !m.opts.Tracing.Enabled() || pod == nil {
		return nil
	}
	sampling := m.opts.Tracing.SamplingPercent
	sel := selectTracing(m.snap, pod, m.opts.Tracing.ProviderName())
	if sel.disabled {
		return nil
	}
	if sel.sampling != nil {
		sampling = *sel.sampling
	}
	return &proxyTracing{tracing: m.opts.Tracing, sampling: sampling, service: pod.Name + "." + pod.Namespace}
}
