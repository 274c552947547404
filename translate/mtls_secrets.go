package translate

import (
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// The SDS secrets of a proxy's own identity, named as Istio names them
// (pkg/model/authentication.go), so that config written for Istio's
// sidecars (an EnvoyFilter, a DestinationRule's sni) means the same here.
// The key and certificate are made by authn and added to each proxy's
// view by the xds layer: translation only refers to them by name.
const (
	// WorkloadCertSecretName is the proxy's key and certificate chain.
	WorkloadCertSecretName = "default"
	// RootCASecretName is the roots the mesh's certificates chain up to.
	RootCASecretName = "ROOTCA"
)

// WorkloadCertSecret is the SDS resource "default": the proxy's private key
// and certificate chain, inline (they come over the proxy's own ADS
// stream, never through a file).
func WorkloadCertSecret(chainPEM, keyPEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: WorkloadCertSecretName,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(chainPEM),
			PrivateKey:       inlineBytes(keyPEM),
		}},
	}
}

// RootCASecret is the SDS resource "ROOTCA": validation_context.trusted_ca
// with the mesh's root bundle (both roots while a root is replaced).
func RootCASecret(rootsPEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: RootCASecretName,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(rootsPEM),
		}},
	}
}
