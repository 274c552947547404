package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/pilotlight/pilotlight/discovery"
)

// SecretNamePrefix starts the SDS name of a certificate from a Kubernetes
// Secret, as in Istio: "kubernetes://<credentialName>", resolved in the
// namespace of the gateway pod the name is sent to.
const SecretNamePrefix = "kubernetes://"

// SDSSecretName is the SDS resource name of a gateway server's credentialName.
func SDSSecretName(credentialName string) string { return SecretNamePrefix + credentialName }

// SDSCASecretName is the SDS resource name of the CA certificate of a
// Secret's SDS name, as Istio names it: "kubernetes://<credentialName>-cacert".
func SDSCASecretName(sdsName string) string { return sdsName + "-cacert" }

// envoySecret is the SDS resource of a Secret's certificate and key, inline:
// Envoy gets the material over the ADS stream, never from a file.
func envoySecret(name string, s *discovery.Secret) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: name,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(s.CertChain),
			PrivateKey:       inlineBytes(s.PrivateKey),
		}},
	}
}

// envoyCASecret is the SDS resource of a Secret's CA certificate
// (ca.crt), a validation_context.trusted_ca for verifying clients.
func envoyCASecret(name string, s *discovery.Secret) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: name,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(s.CACert),
		}},
	}
}

func inlineBytes(b []byte) *core.DataSource {
	return &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: b}}
}
