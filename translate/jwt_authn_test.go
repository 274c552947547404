package translate

import (
	"testing"

	security "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

// TestJWKSSource: a rule's keys are its inline jwks, else the set the
// authn stage fetched for its jwksUri (or the issuer's discovery
// document), else the fail-closed set that verifies no token.
func TestJWKSSource(t *testing.T) {
	const fetched, inline = `{"keys":[{"kty":"RSA","kid":"fetched"}]}`, `{"keys":[{"kty":"RSA","kid":"inline"}]}`
	snap := (&discovery.Snapshot{}).WithJWKS(map[string]string{
		"https://auth.example/jwks.json":                        fetched,
		"https://oidc.example/.well-known/openid-configuration": fetched,
	}, nil)
	cases := []struct {
		name string
		rule *security.JWTRule
		want string
	}{
		{"fetched jwksUri", &security.JWTRule{Issuer: "i", JwksUri: "https://auth.example/jwks.json"}, fetched},
		{"fetched by discovery", &security.JWTRule{Issuer: "https://oidc.example"}, fetched},
		{"inline wins", &security.JWTRule{Issuer: "i", JwksUri: "https://auth.example/jwks.json", Jwks: inline}, inline},
		{"not fetched", &security.JWTRule{Issuer: "i", JwksUri: "https://down.example/jwks.json"}, failClosedJWKS},
	}
	for _, c := range cases {
		if got := jwtProvider(snap, c.rule).GetLocalJwks().GetInlineString(); got != c.want {
			t.Errorf("%s: local_jwks %q, want %q", c.name, got, c.want)
		}
	}
	if err := discovery.CheckJWKS([]byte(failClosedJWKS)); err != nil {
		t.Errorf("the fail-closed key set is not a valid JWKS: %v", err)
	}
}
