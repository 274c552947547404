package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// TLS pieces shared by gateways (termination and passthrough) and sidecars
// (passthrough by SNI).

// tlsInspector is the listener filter that reads the ClientHello, so that
// filter_chain_match.server_names (SNI) can pick a filter chain. A plain
// TCP client has no ClientHello; it matches a chain without server_names.
func tlsInspector() *listener.ListenerFilter {
	return &listener.ListenerFilter{
		Name:       wellknown.TlsInspector,
		ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspector.TlsInspector{})},
	}
}

// sniMatch is a filter_chain_match on SNI; nil (match anything) for none.
func sniMatch(serverNames []string) *listener.FilterChainMatch {
	if len(serverNames) == 0 {
		return nil
	}
	return &listener.FilterChainMatch{ServerNames: serverNames}
}

// gatewayALPN: Istio's gateways offer HTTP/2 and HTTP/1.1 on HTTPS.
var gatewayALPN = []string{"h2", "http/1.1"}

// downstreamTLS terminates TLS with the server's certificate: a
// tls_certificate_sds_secret_configs reference (fetched over ADS) when the
// certificate comes from a Secret, else tls_certificates read from files.
// Mode MUTUAL also asks for a client certificate
// (require_client_certificate) and verifies it against the CA: the SDS
// secret "<sdsName>-cacert" (validation_context_sds_secret_config), else
// the caCertificates file (validation_context.trusted_ca).
func downstreamTLS(settings *networking.ServerTLSSettings, sdsName string) *core.TransportSocket {
	common := &tlsv3.CommonTlsContext{
		TlsParams:     tlsParams(settings),
		AlpnProtocols: gatewayALPN,
	}
	if sdsName != "" {
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: sdsName, SdsConfig: adsConfigSource()}}
	} else {
		// serverCertificate and privateKey: paths on the gateway's machine.
		common.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: fileSource(settings.GetServerCertificate()),
			PrivateKey:       fileSource(settings.GetPrivateKey()),
		}}
	}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common}
	if settings.GetMode() == networking.ServerTLSSettings_MUTUAL {
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
		if sdsName != "" {
			common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: SDSCASecretName(sdsName), SdsConfig: adsConfigSource()},
			}
		} else {
			common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: fileSource(settings.GetCaCertificates())},
			}
		}
	}
	return &core.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}
}

// tlsParams: minProtocolVersion and maxProtocolVersion become
// tls_params.tls_minimum/maximum_protocol_version; nil when both are AUTO.
func tlsParams(settings *networking.ServerTLSSettings) *tlsv3.TlsParameters {
	minV, maxV := tlsVersion(settings.GetMinProtocolVersion()), tlsVersion(settings.GetMaxProtocolVersion())
	if minV == tlsv3.TlsParameters_TLS_AUTO && maxV == tlsv3.TlsParameters_TLS_AUTO {
		return nil
	}
	return &tlsv3.TlsParameters{TlsMinimumProtocolVersion: minV, TlsMaximumProtocolVersion: maxV}
}

func tlsVersion(v networking.ServerTLSSettings_TLSProtocol) tlsv3.TlsParameters_TlsProtocol {
	switch v {
	case networking.ServerTLSSettings_TLSV1_0:
		return tlsv3.TlsParameters_TLSv1_0
	case networking.ServerTLSSettings_TLSV1_1:
		return tlsv3.TlsParameters_TLSv1_1
	case networking.ServerTLSSettings_TLSV1_2:
		return tlsv3.TlsParameters_TLSv1_2
	case networking.ServerTLSSettings_TLSV1_3:
		return tlsv3.TlsParameters_TLSv1_3
	}
	return tlsv3.TlsParameters_TLS_AUTO
}

func fileSource(path string) *core.DataSource {
	return &core.DataSource{Specifier: &core.DataSource_Filename{Filename: path}}
}
