package discovery

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Kubernetes Secret types that can hold TLS material.
const (
	SecretTypeTLS    = "kubernetes.io/tls"
	SecretTypeOpaque = "Opaque"
)

// secretKeys are the data keys of one layout of TLS material in a Secret.
type secretKeys struct{ cert, key, caCert string }

var (
	// kubernetesTLSKeys: the layout of a kubernetes.io/tls Secret
	// (`kubectl create secret tls`).
	kubernetesTLSKeys = secretKeys{"tls.crt", "tls.key", "ca.crt"}
	// istioGenericKeys: the layout Istio also reads from an Opaque Secret.
	istioGenericKeys = secretKeys{"cert", "key", "cacert"}
)

// NewSecret reads the TLS material of a Kubernetes Secret. It returns nil
// and no problem for a Secret that holds no TLS material (a token, a
// password): the mesh has no use for it. It returns a Problem, and no
// Secret, when the material is incomplete or is not a PEM certificate and
// matching key: sent to Envoy, such a secret would be rejected (a NACK),
// so it is kept out of the snapshot and the gateway server that names it
// is reported instead.
//
// secretType empty reads as Opaque, the API server's default.
func NewSecret(m Meta, secretType string, data map[string][]byte) (*Secret, *Problem) {
	keys, ok := tlsLayout(secretType, data)
	if !ok {
		return nil, nil
	}
	problem := func(field, format string, args ...any) *Problem {
		return &Problem{Kind: "Secret", Name: m.Key(), Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	cert, key := data[keys.cert], data[keys.key]
	switch {
	case len(cert) == 0:
		return nil, problem("data."+keys.cert, "a TLS secret needs a certificate chain in %s", keys.cert)
	case len(key) == 0:
		return nil, problem("data."+keys.key, "a TLS secret needs a private key in %s", keys.key)
	}
	// The same check Envoy makes: PEM, and the key belongs to the certificate.
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return nil, problem("data."+keys.cert, "not a usable certificate and key: %v", err)
	}
	// A CA Envoy cannot read would be rejected with the whole secret.
	ca := data[keys.caCert]
	if len(ca) > 0 && !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return nil, problem("data."+keys.caCert, "no PEM certificate in %s", keys.caCert)
	}
	return &Secret{Meta: m, CertChain: cert, PrivateKey: key, CACert: ca}, nil
}

// tlsLayout tells where a Secret keeps its TLS material, if it has any.
func tlsLayout(secretType string, data map[string][]byte) (secretKeys, bool) {
	switch secretType {
	case SecretTypeTLS:
		return kubernetesTLSKeys, true
	case SecretTypeOpaque, "":
		if _, ok := data[istioGenericKeys.cert]; ok {
			return istioGenericKeys, true
		}
		if _, ok := data[kubernetesTLSKeys.cert]; ok {
			return kubernetesTLSKeys, true
		}
	}
	return secretKeys{}, false
}

// SecretOf reads the TLS material of a Kubernetes Secret object; see
// NewSecret. stringData is merged over data, as the API server does on write
// (a Secret in a folder was never written through one).
func SecretOf(s *corev1.Secret) (*Secret, *Problem) {
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return NewSecret(MetaOf("Secret", s), string(s.Type), data)
}

// secretRead is a Secret as read: its TLS material, or why it has none
// that is usable.
type secretRead struct {
	key     string // namespace/name
	tls     *Secret
	problem *Problem
}

// tlsSecrets reads the TLS material of Secrets. A Secret whose material
// turned unusable keeps its last good material served (lastgood.go), so
// that a botched certificate rotation does not take a gateway's HTTPS down.
func tlsSecrets(ps *pass, secrets []*corev1.Secret) []*Secret {
	read := make([]secretRead, 0, len(secrets))
	for _, sec := range secrets {
		tls, problem := SecretOf(sec)
		read = append(read, secretRead{key: sec.Namespace + "/" + sec.Name, tls: tls, problem: problem})
	}
	kept := keep(ps, "Secret", read, func(r secretRead) string { return r.key }, func(r secretRead) []Problem {
		if r.problem != nil {
			return []Problem{*r.problem}
		}
		return nil
	}, false, 0)
	var out []*Secret
	for _, r := range kept {
		if r.tls != nil {
			out = append(out, r.tls)
		}
	}
	return out
}
