package translate

import (
	accesslog "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	grpcals "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/discovery"
)

// Telemetry that needs every connection manager and tcp_proxy of a proxy:
// access logs streamed to pilotlight (for Istio's request metrics) and
// tracing (tracing.go). Listeners are built without it; when it is on,
// decorateTelemetry adds it to the filters of each listener afterwards, so
// the listener code stays about routing, and a mesh without telemetry pays
// nothing.

// TelemetryOptions are the mesh's telemetry settings (serve's flags).
type TelemetryOptions struct {
	// AccessLogCluster, when set, makes every HTTP connection manager and
	// tcp_proxy stream an access log entry per request (per connection for
	// TCP) over Envoy's gRPC access log service through this cluster
	// (access_log: envoy.access_loggers.http_grpc / tcp_grpc).
	AccessLogCluster string
	// Tracing is the mesh-wide tracing default (tracing.go).
	Tracing Tracing
}

func (o TelemetryOptions) telemetryOn() bool { return o.AccessLogCluster != "" || o.Tracing.Enabled() }

// Access log names: the reporter of Istio's metrics, by the side of the
// proxy that saw the request.
const (
	AccessLogSource      = "pilotlight.source"      // outbound: the client's proxy (and gateways)
	AccessLogDestination = "pilotlight.destination" // inbound: the server's sidecar
)

// WithTelemetry turns on access logs and tracing in a Mesh's views.
func WithTelemetry(opts TelemetryOptions) Option {
	return func(m *Mesh) { m.opts = opts }
}

// addTelemetry adds what telemetry needs to a proxy's view: access logs
// and tracing on its listeners, and the collector's cluster.
func (m *Mesh) addTelemetry(p Proxy, res *Resources) {
	if !m.opts.telemetryOn() {
		return
	}
	pod := m.snap.Pod(p.Namespace, p.PodName)
	res.Listeners = m.decorateTelemetry(pod, res.Listeners)
	if c := m.tracingCluster(); c != nil && m.tracingFor(pod) != nil {
		res.Clusters = m.joinClusters(res.Clusters, m.tracingClusters())
	}
}

// decorateTelemetry adds access logs and tracing to every connection
// manager and tcp_proxy of the proxy's listeners. It decorates copies:
// listeners are shared (every captured sidecar's virtualOutbound is one
// message, listeners are kept from mesh to mesh), and each proxy's would
// otherwise add its access log to all of theirs.
func (m *Mesh) decorateTelemetry(pod *discovery.Pod, listeners []*listener.Listener) []*listener.Listener {
	if !m.opts.telemetryOn() {
		return listeners
	}
	tracing := m.tracingFor(pod)
	out := make([]*listener.Listener, len(listeners))
	for i, l := range listeners {
		l = proto.Clone(l).(*listener.Listener)
		out[i] = l
		logName := AccessLogSource
		if l.TrafficDirection == core.TrafficDirection_INBOUND {
			logName = AccessLogDestination
		}
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				m.decorateFilter(f, logName, tracing, l.TrafficDirection)
			}
		}
	}
	return out
}

func (m *Mesh) decorateFilter(f *listener.Filter, logName string, tracing *proxyTracing, dir core.TrafficDirection) {
	switch f.Name {
	case wellknown.HTTPConnectionManager:
		manager := &hcm.HttpConnectionManager{}
		if f.GetTypedConfig().UnmarshalTo(manager) != nil {
			return
		}
		if m.opts.AccessLogCluster != "" {
			manager.AccessLog = append(manager.AccessLog, m.grpcAccessLog(logName, false))
		}
		if tracing != nil {
			manager.Tracing = tracing.manager(dir)
		}
		f.ConfigType = &listener.Filter_TypedConfig{TypedConfig: mustAny(manager)}
	case wellknown.TCPProxy:
		if m.opts.AccessLogCluster == "" {
			return
		}
		tp := &tcpproxy.TcpProxy{}
		if f.GetTypedConfig().UnmarshalTo(tp) != nil {
			return
		}
		tp.AccessLog = append(tp.AccessLog, m.grpcAccessLog(logName, true))
		f.ConfigType = &listener.Filter_TypedConfig{TypedConfig: mustAny(tp)}
	}
}

// grpcAccessLog streams entries to pilotlight through the access log
// cluster; Envoy batches them (buffer_flush_interval, 1 s by default).
func (m *Mesh) grpcAccessLog(logName string, tcp bool) *accesslog.AccessLog {
	common := &grpcals.CommonGrpcAccessLogConfig{
		LogName: logName,
		GrpcService: &core.GrpcService{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: m.opts.AccessLogCluster},
		}},
		TransportApiVersion: core.ApiVersion_V3,
	}
	// The headers that tell gRPC from plain HTTP, for Istio's
	// request_protocol and grpc_response_status labels: the request's
	// content-type (additional_request_headers_to_log), and grpc-status,
	// a trailer, or a header in a trailers-only response
	// (additional_response_trailers_to_log, _headers_to_log).
	var cfg proto.Message = &grpcals.HttpGrpcAccessLogConfig{CommonConfig: common,
		AdditionalRequestHeadersToLog:   []string{"content-type"},
		AdditionalResponseHeadersToLog:  []string{"grpc-status"},
		AdditionalResponseTrailersToLog: []string{"grpc-status"},
	}
	name := "envoy.access_loggers.http_grpc"
	if tcp {
		cfg, name = &grpcals.TcpGrpcAccessLogConfig{CommonConfig: common}, "envoy.access_loggers.tcp_grpc"
	}
	return &accesslog.AccessLog{Name: name, ConfigType: &accesslog.AccessLog_TypedConfig{TypedConfig: mustAny(cfg)}}
}
