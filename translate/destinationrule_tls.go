package translate

import (
	"net/netip"
	"strings"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	networking "istio.io/api/networking/v1"
)

// applyTLS: tls → the cluster's transport_socket.
//   - DISABLE (or no tls): plaintext, no transport socket.
//   - SIMPLE: TLS, verifying the server.
//   - MUTUAL: TLS with the given client certificate as well.
//   - ISTIO_MUTUAL: the mesh's own mTLS, set by applyMeshTLS (mtls.go),
//     which knows the cluster's service, subset and port.
//
// Istio serves the certificate files over SDS from its node agent; with no
// agent, Envoy reads the files itself (DataSource.filename), so the paths
// are paths on the proxy's machine. Envoy rejects a cluster whose files it
// cannot read; validation insists on absolute paths.
func applyTLS(c *cluster.Cluster, httpOptions *upstreamhttp.HttpProtocolOptions, tls *networking.ClientTLSSettings) {
	switch tls.GetMode() {
	case networking.ClientTLSSettings_SIMPLE, networking.ClientTLSSettings_MUTUAL:
		c.TransportSocket = tlsTransportSocket(upstreamTLSContext(tls))
		autoSNIAndSAN(httpOptions, tls)
	}
}

func tlsTransportSocket(ctx *tlsv3.UpstreamTlsContext) *core.TransportSocket {
	return &core.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}
}

// upstreamTLSContext: sni → sni; clientCertificate and privateKey (MUTUAL)
// → tls_certificates; the server check → validation_context.
func upstreamTLSContext(tls *networking.ClientTLSSettings) *tlsv3.UpstreamTlsContext {
	common := &tlsv3.CommonTlsContext{}
	if tls.GetMode() == networking.ClientTLSSettings_MUTUAL {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: certFile(tls.GetClientCertificate()),
			PrivateKey:       certFile(tls.GetPrivateKey()),
		}}
	}
	// insecureSkipVerify: no validation context, any server certificate goes.
	if !tls.GetInsecureSkipVerify().GetValue() {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: validationContext(tls)}
	}
	return &tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: tls.GetSni()}
}

// systemRootCerts is the operating system's CA bundle on Debian, Ubuntu,
// Alpine and in Istio's proxy image; Istio's node agent reads it for the
// "system" CA. (Envoy's validation_context.system_root_certs looks like the
// same thing but is not implemented: Envoy would verify nothing at all.) On
// a machine without this file Envoy rejects the cluster: it fails closed.
const systemRootCerts = "/etc/ssl/certs/ca-certificates.crt"

// validationContext: caCertificates (else the system's roots, Istio's
// "system" default) → trusted_ca; caCrl → crl; subjectAltNames →
// match_typed_subject_alt_names.
func validationContext(tls *networking.ClientTLSSettings) *tlsv3.CertificateValidationContext {
	ca := tls.GetCaCertificates()
	if ca == "" {
		ca = systemRootCerts
	}
	vc := &tlsv3.CertificateValidationContext{
		TrustedCa:                 certFile(ca),
		MatchTypedSubjectAltNames: subjectAltNameMatchers(tls.GetSubjectAltNames()),
	}
	if crl := tls.GetCaCrl(); crl != "" {
		vc.Crl = certFile(crl)
	}
	return vc
}

// subjectAltNameMatchers: Istio matches each name exactly against a SAN of
// any type; Envoy's typed matchers need the type, which the name shows:
// "spiffe://…" and other URIs are URI SANs, addresses IP SANs, the rest DNS
// names.
func subjectAltNameMatchers(names []string) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, name := range names {
		out = append(out, &tlsv3.SubjectAltNameMatcher{
			SanType: sanType(name),
			Matcher: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: name}},
		})
	}
	return out
}

func sanType(name string) tlsv3.SubjectAltNameMatcher_SanType {
	if strings.Contains(name, "://") {
		return tlsv3.SubjectAltNameMatcher_URI
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return tlsv3.SubjectAltNameMatcher_IP_ADDRESS
	}
	return tlsv3.SubjectAltNameMatcher_DNS
}

// autoSNIAndSAN follows Istio's setAutoSniAndAutoSanValidation: with no sni
// the request's Host becomes the SNI (upstream_http_protocol_options.
// auto_sni), and with no subjectAltNames either, the server certificate
// must match that Host (auto_san_validation).
func autoSNIAndSAN(o *upstreamhttp.HttpProtocolOptions, tls *networking.ClientTLSSettings) {
	if tls.GetSni() != "" {
		return
	}
	o.UpstreamHttpProtocolOptions = &core.UpstreamHttpProtocolOptions{
		AutoSni:           true,
		AutoSanValidation: len(tls.GetSubjectAltNames()) == 0 && !tls.GetInsecureSkipVerify().GetValue(),
	}
}

// certFile is a DataSource that Envoy reads from a file on its machine.
func certFile(path string) *core.DataSource {
	return &core.DataSource{Specifier: &core.DataSource_Filename{Filename: path}}
}
