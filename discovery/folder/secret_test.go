package folder

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// testKeyPair is a throwaway self-signed certificate and key, PEM.
func testKeyPair(t *testing.T) (certPEM, keyPEM []byte) {
	return discoverytest.SelfSigned(t, "shop.example.com")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// indent prefixes every line of a PEM block, for a YAML block scalar.
func indent(pem []byte, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n"+prefix)
}

// TestLoadSecrets: TLS material is read from kubernetes.io/tls Secrets and
// from Opaque ones with Istio's keys (stringData too); other Secrets are
// ignored; a TLS Secret that is not a key pair is a problem, and left out.
func TestLoadSecrets(t *testing.T) {
	cert, key := testKeyPair(t)
	snap := mustLoad(t, map[string]string{"secrets.yaml": `apiVersion: v1
kind: Secret
metadata: {name: tls-cert, namespace: edge}
type: kubernetes.io/tls
data:
  tls.crt: ` + b64(cert) + `
  tls.key: ` + b64(key) + `
---
apiVersion: v1
kind: Secret
metadata: {name: istio-generic, namespace: edge}
stringData:
  cert: |
` + indent(cert, "    ") + `
  key: |
` + indent(key, "    ") + `
---
apiVersion: v1
kind: Secret
metadata: {name: password, namespace: edge}
type: Opaque
stringData: {password: hunter2}
---
apiVersion: v1
kind: Secret
metadata: {name: swapped, namespace: edge}
type: kubernetes.io/tls
data:
  tls.crt: ` + b64(key) + `
  tls.key: ` + b64(cert) + `
---
# As the Istio mutual TLS ingress task makes it: kubectl create secret
# generic --from-file=tls.key --from-file=tls.crt --from-file=ca.crt
apiVersion: v1
kind: Secret
metadata: {name: mtls-generic, namespace: edge}
type: Opaque
data:
  tls.crt: ` + b64(cert) + `
  tls.key: ` + b64(key) + `
  ca.crt: ` + b64(cert) + `
---
apiVersion: v1
kind: Secret
metadata: {name: bad-ca, namespace: edge}
type: kubernetes.io/tls
data:
  tls.crt: ` + b64(cert) + `
  tls.key: ` + b64(key) + `
  ca.crt: ` + b64([]byte("not a certificate")) + `
`})
	var names []string
	for _, s := range snap.Secrets {
		names = append(names, s.Key())
	}
	if strings.Join(names, " ") != "edge/istio-generic edge/mtls-generic edge/tls-cert" {
		t.Errorf("secrets %v, want edge/istio-generic, edge/mtls-generic and edge/tls-cert", names)
	}
	if s := snap.Secret("edge", "mtls-generic"); s == nil || string(s.CACert) != string(cert) {
		t.Errorf("edge/mtls-generic: %+v, want its ca.crt as CACert", s)
	}
	if p := findProblem(t, snap, "Secret", "edge/bad-ca"); p.Field != "data.ca.crt" {
		t.Errorf("problem %s, want data.ca.crt", p)
	}
	if s := snap.Secret("edge", "istio-generic"); s == nil || string(s.CertChain) != string(cert) || string(s.PrivateKey) != string(key) {
		t.Errorf("edge/istio-generic: %+v", s)
	}
	p := findProblem(t, snap, "Secret", "edge/swapped")
	if p.Field != "data.tls.crt" || p.Source != "secrets.yaml#3" {
		t.Errorf("problem %s, want secrets.yaml#3 data.tls.crt", p)
	}
	if len(snap.Problems) != 2 {
		t.Errorf("problems %v, want only edge/swapped and edge/bad-ca", snap.Problems)
	}
}

// TestLoadGatewayWithMissingSecret: the Gateway is kept and its server's
// credentialName reported, with the file it came from.
func TestLoadGatewayWithMissingSecret(t *testing.T) {
	snap := mustLoad(t, map[string]string{
		"pod.yaml": `apiVersion: v1
kind: Pod
metadata: {name: ingressgateway, namespace: edge, labels: {istio: ingressgateway}}
status: {podIP: 10.0.0.1}
`,
		"gateway.yaml": `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cert}
`})
	if len(snap.Gateways) != 1 {
		t.Errorf("gateways %v, want the Gateway kept", snap.Gateways)
	}
	p := findProblem(t, snap, "Gateway", "edge/shop")
	if p.Field != "spec.servers[0].tls.credentialName" || p.Source != "gateway.yaml#0" || !strings.Contains(p.Reason, "edge/shop-cert") {
		t.Errorf("problem %s", p)
	}
}

// TestSecretChangeIsAConfigChange: a new certificate is not an
// endpoint-only change (the xds layer would keep the old one).
func TestSecretChangeIsAConfigChange(t *testing.T) {
	a := &discovery.Snapshot{Secrets: []*discovery.Secret{{Meta: discovery.Meta{Name: "c", Namespace: "n"}, CertChain: []byte("1")}}}
	b := &discovery.Snapshot{Secrets: []*discovery.Secret{{Meta: discovery.Meta{Name: "c", Namespace: "n"}, CertChain: []byte("2")}}}
	if discovery.SameConfig(a, b) {
		t.Error("SameConfig ignores a changed certificate")
	}
}
