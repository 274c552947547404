package discovery

import (
	"testing"

	security "istio.io/api/security/v1beta1"
)

const testJWKS = `{"keys":[{"kty":"RSA","e":"AQAB","n":"xyz","kid":"k1"}]}`

// TestValidateRequestAuthentication: the tutorial's rule is valid; one
// mistake per invalid case, reported on its field.
func TestValidateRequestAuthentication(t *testing.T) {
	cases := []struct {
		name, spec, field, want string
	}{
		{"tutorial", `
selector: {matchLabels: {app: httpbin}}
jwtRules:
- issuer: "testing@secure.istio.io"
  jwksUri: "https://raw.githubusercontent.com/istio/istio/release-1.24/security/tools/jwt/samples/jwks.json"`, "", ""},
		{"inline keys and every field", `
jwtRules:
- issuer: https://issuer.example
  jwks: '` + testJWKS + `'
  audiences: [shop]
  fromHeaders: [{name: x-jwt, prefix: "Bearer "}]
  fromParams: [token]
  fromCookies: [session]
  outputPayloadToHeader: x-jwt-payload
  outputClaimToHeaders: [{header: x-sub, claim: sub}]
  forwardOriginalToken: true
  timeout: 3s`, "", ""},
		{"openid discovery", `jwtRules: [{issuer: "https://accounts.example.com"}]`, "", ""},

		{"no issuer", `jwtRules: [{jwksUri: "https://x.example/jwks"}]`, "spec.jwtRules[0].issuer", "required"},
		{"bad jwksUri", `jwtRules: [{issuer: i, jwksUri: "ftp://x.example/jwks"}]`, "spec.jwtRules[0].jwksUri", "http or https"},
		{"jwksUri without host", `jwtRules: [{issuer: i, jwksUri: "https:///jwks"}]`, "spec.jwtRules[0].jwksUri", "no host"},
		{"issuer not a URL, no keys", `jwtRules: [{issuer: "testing@secure.istio.io"}]`, "spec.jwtRules[0].issuer", "without jwksUri or jwks"},
		{"jwks not JSON", `jwtRules: [{issuer: i, jwks: "-----BEGIN PUBLIC KEY-----"}]`, "spec.jwtRules[0].jwks", "not a JSON Web Key Set"},
		{"jwks without keys", `jwtRules: [{issuer: i, jwks: '{"keys":[]}'}]`, "spec.jwtRules[0].jwks", "no \"keys\""},
		{"jwks unknown kty", `jwtRules: [{issuer: i, jwks: '{"keys":[{"kty":"DSA"}]}'}]`, "spec.jwtRules[0].jwks", "kty \"DSA\""},
		{"empty audience", `jwtRules: [{issuer: i, jwks: '` + testJWKS + `', audiences: [""]}]`, "spec.jwtRules[0].audiences[0]", "must not be empty"},
		{"bad header name", `jwtRules: [{issuer: i, jwks: '` + testJWKS + `', fromHeaders: [{name: "x jwt"}]}]`, "spec.jwtRules[0].fromHeaders[0].name", "not a valid header name"},
		{"empty param", `jwtRules: [{issuer: i, jwks: '` + testJWKS + `', fromParams: [""]}]`, "spec.jwtRules[0].fromParams[0]", "must not be empty"},
		{"bad payload header", `jwtRules: [{issuer: i, jwks: '` + testJWKS + `', outputPayloadToHeader: "a:b"}]`, "spec.jwtRules[0].outputPayloadToHeader", "not a valid header name"},
		{"claim without name", `jwtRules: [{issuer: i, jwks: '` + testJWKS + `', outputClaimToHeaders: [{header: x}]}]`, "spec.jwtRules[0].outputClaimToHeaders[0].claim", "required"},
		{"target refs", `{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]}`, "spec.targetRefs", "not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ra := &RequestAuthentication{
				Meta: Meta{Kind: "RequestAuthentication", Name: "jwt", Namespace: "shop"},
				Spec: specOf(t, &security.RequestAuthentication{}, c.spec),
			}
			checkOne(t, ValidateRequestAuthentication(ra), c.field, c.want)
		})
	}
}

func TestJWKSKey(t *testing.T) {
	cases := []struct {
		rule *security.JWTRule
		want string
	}{
		{&security.JWTRule{Issuer: "i", Jwks: testJWKS, JwksUri: "https://x/jwks"}, ""},
		{&security.JWTRule{Issuer: "i", JwksUri: "https://x/jwks"}, "https://x/jwks"},
		{&security.JWTRule{Issuer: "https://accounts.example.com/"}, "https://accounts.example.com/.well-known/openid-configuration"},
	}
	for _, c := range cases {
		if got := JWKSKey(c.rule); got != c.want {
			t.Errorf("JWKSKey(%v) = %q, want %q", c.rule, got, c.want)
		}
	}
}
