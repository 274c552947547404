package translate

import (
	"net/netip"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
)

// TelemetryClusterName is the static cluster through which a proxy streams
// its access logs to pilotlight (serve --istio-metrics; telemetry.go): the
// xDS address, over TLS checked against the mesh root and the server's
// name (its address), in HTTP/2 for gRPC. The access log service proves
// who streams by the connection's address (telemetry/sink.go), so the
// cluster carries no token. It stays idle while no access log uses it.
const TelemetryClusterName = "pilotlight-telemetry"

func addTelemetryCluster(b *bootstrap.Bootstrap, o BootstrapOptions) error {
	host, port, err := splitHostPort(o.XDSAddr)
	if err != nil {
		return err
	}
	san := &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_DNS,
		Matcher: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: host}}}
	kind := cluster.Cluster_STRICT_DNS
	if _, err := netip.ParseAddr(host); err == nil {
		san.SanType, kind = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, cluster.Cluster_STATIC
	}
	tlsContext := &tlsv3.UpstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: []string{"h2"},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa:                 fileSource(o.RootCertFile),
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{san},
			}},
		},
	}
	if kind == cluster.Cluster_STRICT_DNS {
		tlsContext.Sni = host
	}
	c := &cluster.Cluster{
		Name:                 TelemetryClusterName,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: kind},
		ConnectTimeout:       durationSeconds(1),
		LoadAssignment:       loadAssignment(TelemetryClusterName, []hostPort{{host: host, port: port}}),
		TransportSocket: &core.TransportSocket{Name: wellknown.TransportSocketTLS,
			ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(tlsContext)}},
	}
	setHTTPProtocolOptions(c, &upstreamhttp.HttpProtocolOptions{}, true)
	if b.StaticResources == nil {
		b.StaticResources = &bootstrap.Bootstrap_StaticResources{}
	}
	b.StaticResources.Clusters = append(b.StaticResources.Clusters, c)
	return nil
}
