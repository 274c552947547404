package main

import (
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

func inline(s string) *core.DataSource {
	return &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: []byte(s)}}
}

// Key material never reaches proxy-config; certificates do.
func TestRedactedSecretHasNoKeyMaterial(t *testing.T) {
	secrets := []*tlsv3.Secret{
		{Name: "kubernetes://gw-cert", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inline("CERT-PEM"), PrivateKey: inline("KEY-PEM"), Password: inline("PASSWORD")}}},
		{Name: "generic", Type: &tlsv3.Secret_GenericSecret{GenericSecret: &tlsv3.GenericSecret{Secret: inline("TOKEN")}}},
		{Name: "tickets", Type: &tlsv3.Secret_SessionTicketKeys{SessionTicketKeys: &tlsv3.TlsSessionTicketKeys{
			Keys: []*core.DataSource{inline("TICKET1"), inline("TICKET2")}}}},
	}
	for _, s := range secrets {
		js, err := protojson.Marshal(redacted(s))
		if err != nil {
			t.Fatal(err)
		}
		text := string(js)
		for _, secret := range []string{"KEY-PEM", "PASSWORD", "TOKEN", "TICKET1", "TICKET2"} {
			if strings.Contains(text, b64(secret)) {
				t.Errorf("%s: %s shows %s", s.Name, text, secret)
			}
		}
		if !strings.Contains(text, redactedText) {
			t.Errorf("%s: nothing redacted: %s", s.Name, text)
		}
	}
	if js, _ := protojson.Marshal(redacted(secrets[0])); !strings.Contains(string(js), b64("CERT-PEM")) {
		t.Errorf("the certificate chain was dropped: %s", js)
	}
	if secrets[0].GetTlsCertificate().GetPrivateKey().GetInlineBytes() == nil {
		t.Error("redacted changed the served secret instead of a copy")
	}
}

func b64(s string) string {
	js, _ := protojson.Marshal(inline(s))
	_, v, _ := strings.Cut(string(js), `"inlineBytes":"`)
	return strings.TrimSuffix(v, `"}`)
}

func TestPodKey(t *testing.T) {
	tests := []struct{ arg, namespace, want string }{
		{"front-end-v1.sock-shop", "", "sock-shop/front-end-v1"},
		{"sock-shop/front-end-v1", "", "sock-shop/front-end-v1"},
		{"front-end-v1", "sock-shop", "sock-shop/front-end-v1"},
		{"front-end-v1", "", "front-end-v1"},
	}
	for _, tt := range tests {
		if got := podKey(tt.arg, tt.namespace); got != tt.want {
			t.Errorf("podKey(%q, %q) = %q, want %q", tt.arg, tt.namespace, got, tt.want)
		}
	}
}
