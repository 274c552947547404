package translate

import (
	"math"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// httpProtocolOptionsName is the key of typed_extension_protocol_options
// that Envoy's HTTP connection pools read.
const httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// applyConnectionPool: connectionPool → circuit_breakers, connect_timeout,
// upstream_connection_options.tcp_keepalive and the common HTTP protocol
// options. Like Istio, every cluster gets circuit breakers, so that Envoy's
// small defaults (1024 connections, 3 concurrent retries) never apply
// unless a rule asks for limits.
func applyConnectionPool(c *cluster.Cluster, httpOptions *upstreamhttp.HttpProtocolOptions, pool *networking.ConnectionPoolSettings) {
	c.CircuitBreakers = &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{thresholds(pool)}}
	tcp := pool.GetTcp()
	if tcp.GetConnectTimeout() != nil {
		c.ConnectTimeout = tcp.GetConnectTimeout() // tcp.connectTimeout → connect_timeout
	}
	if ka := tcp.GetTcpKeepalive(); ka != nil {
		c.UpstreamConnectionOptions = &cluster.UpstreamConnectionOptions{TcpKeepalive: tcpKeepalive(ka)}
	}
	if common := commonHTTPOptions(pool); common != nil {
		httpOptions.CommonHttpProtocolOptions = common
	}
}

// defaultCircuitBreakers are Istio's for a cluster with no connectionPool.
func defaultCircuitBreakers() *cluster.CircuitBreakers {
	return &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{thresholds(nil)}}
}

// thresholds: circuit_breakers.thresholds[0] (priority DEFAULT). Unset or
// zero limits stay at the maximum, as in Istio, which cannot tell zero from
// unset either.
func thresholds(pool *networking.ConnectionPoolSettings) *cluster.CircuitBreakers_Thresholds {
	return &cluster.CircuitBreakers_Thresholds{
		// tcp.maxConnections → max_connections
		MaxConnections: limit(pool.GetTcp().GetMaxConnections()),
		// http.http1MaxPendingRequests → max_pending_requests: requests
		// waiting for a connection; more are refused with 503 (flag UO).
		MaxPendingRequests: limit(pool.GetHttp().GetHttp1MaxPendingRequests()),
		// http.http2MaxRequests → max_requests: requests in flight.
		MaxRequests: limit(pool.GetHttp().GetHttp2MaxRequests()),
		// http.maxRetries → max_retries: retries in flight at once.
		MaxRetries: limit(pool.GetHttp().GetMaxRetries()),
		// track_remaining: the remaining_* gauges, handy when debugging limits.
		TrackRemaining: true,
	}
}

func limit(n int32) *wrapperspb.UInt32Value {
	if n <= 0 {
		return wrapperspb.UInt32(math.MaxUint32)
	}
	return wrapperspb.UInt32(uint32(n))
}

// commonHTTPOptions: the common_http_protocol_options of the HTTP
// protocol options, or nil when the pool sets none of them.
//   - http.maxRequestsPerConnection → max_requests_per_connection
//   - http.idleTimeout (else tcp.idleTimeout) → idle_timeout
//   - tcp.maxConnectionDuration → max_connection_duration
func commonHTTPOptions(pool *networking.ConnectionPoolSettings) *core.HttpProtocolOptions {
	idle := pool.GetHttp().GetIdleTimeout()
	if idle == nil {
		idle = pool.GetTcp().GetIdleTimeout()
	}
	perConnection := pool.GetHttp().GetMaxRequestsPerConnection()
	maxDuration := pool.GetTcp().GetMaxConnectionDuration()
	if idle == nil && perConnection <= 0 && maxDuration == nil {
		return nil
	}
	common := &core.HttpProtocolOptions{IdleTimeout: idle, MaxConnectionDuration: maxDuration}
	if perConnection > 0 {
		common.MaxRequestsPerConnection = wrapperspb.UInt32(uint32(perConnection))
	}
	return common
}

// tcpKeepalive: tcp.tcpKeepalive → tcp_keepalive. An empty one turns
// SO_KEEPALIVE on with the kernel's timings; Envoy counts in whole seconds.
func tcpKeepalive(ka *networking.ConnectionPoolSettings_TCPSettings_TcpKeepalive) *core.TcpKeepalive {
	out := &core.TcpKeepalive{}
	if ka.GetProbes() > 0 {
		out.KeepaliveProbes = wrapperspb.UInt32(ka.GetProbes())
	}
	if ka.GetTime() != nil {
		out.KeepaliveTime = wholeSeconds(ka.GetTime())
	}
	if ka.GetInterval() != nil {
		out.KeepaliveInterval = wholeSeconds(ka.GetInterval())
	}
	return out
}

func wholeSeconds(d *durationpb.Duration) *wrapperspb.UInt32Value {
	return wrapperspb.UInt32(uint32(d.GetSeconds()))
}

// setHTTPProtocolOptions puts the HTTP protocol options that the policy
// filled in into typed_extension_protocol_options. Envoy requires the
// upstream protocol to be named there; HTTP/1.1 is what the cluster spoke
// without options, so naming it changes nothing else. An HTTP/2 upstream
// (http2) always needs them.
func setHTTPProtocolOptions(c *cluster.Cluster, o *upstreamhttp.HttpProtocolOptions, http2 bool) {
	if !http2 && o.CommonHttpProtocolOptions == nil && o.UpstreamHttpProtocolOptions == nil {
		return
	}
	explicit := &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{
		ProtocolConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
			HttpProtocolOptions: &core.Http1ProtocolOptions{},
		},
	}
	if http2 {
		explicit.ProtocolConfig = &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
			Http2ProtocolOptions: &core.Http2ProtocolOptions{},
		}
	}
	o.UpstreamProtocolOptions = &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: explicit}
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsName: mustAny(o)}
}
