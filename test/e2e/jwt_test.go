package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// The issuer of the JWT tests. Its URLs look public, as in a tutorial's
// YAML; pilotlight serve --jwks-redirect sends the fetch to the test's own
// loopback JWKS server, the policy unchanged.
const (
	jwtIssuer  = "https://auth.pilotlight.test"
	jwksURL    = jwtIssuer + "/.well-known/jwks.json"
	alice, bob = jwtIssuer + "/alice", jwtIssuer + "/bob"
)

func requestAuthentication(rules string) string {
	return `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
  namespace: sock-shop
spec:
  selector:
    matchLabels:
      app: catalogue
  jwtRules:
` + rules
}

var defaultJWTRule = requestAuthentication(`  - issuer: "` + jwtIssuer + `"
    jwksUri: "` + jwksURL + `"
    outputPayloadToHeader: x-jwt-payload
`)

// bearer is a request with a token in the Authorization header.
func bearer(r request, token string) request { return r.with("Authorization", "Bearer "+token) }

// TestRequestAuthenticationJWT: RequestAuthentication → jwt_authn on real
// Envoy, with a key pair the test generates and serves from a loopback JWKS
// server. The server is not running at first: the rule fails closed (a
// valid token gets 401) and the problem is reported with the URL and the
// error; once it runs, pilotlight's retry fetches the keys and valid
// tokens pass. Then every outcome Istio documents: no token passes
// authentication (and is denied only by a policy that requires a
// principal), invalid, expired, foreign-key and wrong-issuer tokens get
// 401, and a valid token's iss/sub is the principal requestPrincipals and
// the claims conditions match.
func TestRequestAuthenticationJWT(t *testing.T) {
	keys := harness.NewJWTIssuer(t, jwtIssuer, "test-key")
	jwksAddr := harness.FreeAddr(t, "127.0.0.1")
	s := newSecurityMesh(t, map[string]string{"jwt.yaml": defaultJWTRule})
	s.ServeArgs = []string{"--jwks-redirect", jwtIssuer + "/=http://" + jwksAddr + "/", "--jwks-retry-interval", "200ms"}
	s.Start()
	now := time.Now()
	valid := func(sub string, extra map[string]any) string {
		claims := map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			claims[k] = v
		}
		return keys.Token(t, claims)
	}

	t.Run("JWKS server down: fails closed, reported", func(t *testing.T) {
		s.waitFor(t, bearer(get("/"), valid("alice", nil)), unauthenticated)
		s.check(t, allowed, get("/"))
		waitProblem(t, s.Mesh, "RequestAuthentication", ns+"/jwt",
			"spec.jwtRules[0].jwksUri: fetching the JWKS failed: "+jwksURL+" (redirected to http://"+jwksAddr+"/.well-known/jwks.json): ")
		_, entries, _ := s.Problems()
		if !strings.Contains(fmt.Sprint(entries), "connection refused") {
			t.Errorf("the problem does not say why the fetch failed: %v", entries)
		}
	})

	harness.Serve(t, jwksAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(keys.JWKS()))
	}))

	t.Run("JWKS server up: keys fetched, problem gone", func(t *testing.T) {
		s.waitFor(t, bearer(get("/"), valid("alice", nil)), allowed)
		if raw, _, err := s.Problems(); err != nil || strings.Contains(string(raw), "RequestAuthentication") {
			t.Errorf("problems after the keys arrived: %s %v", raw, err)
		}
	})

	otherKey := harness.NewJWTIssuer(t, jwtIssuer, "test-key") // same issuer and kid, another key
	otherIssuer := harness.NewJWTIssuer(t, "https://evil.example", "test-key")
	t.Run("tokens", func(t *testing.T) {
		s.check(t, allowed, get("/"), bearer(get("/"), valid("bob", nil)))
		s.check(t, unauthenticated,
			bearer(get("/"), "not-a-jwt"),
			bearer(get("/"), keys.Token(t, map[string]any{"sub": "alice", "exp": now.Add(-time.Minute).Unix()})), // expired
			bearer(get("/"), otherKey.Token(t, map[string]any{"sub": "alice", "exp": now.Add(time.Hour).Unix()})),
			bearer(get("/"), keys.Token(t, map[string]any{"iss": "https://evil.example", "sub": "alice", "exp": now.Add(time.Hour).Unix()})),
			bearer(get("/"), otherIssuer.Token(t, map[string]any{"sub": "alice", "exp": now.Add(time.Hour).Unix()})),
		)
		expired := s.send(t, bearer(get("/"), keys.Token(t, map[string]any{"sub": "alice", "exp": now.Add(-time.Minute).Unix()})))
		if string(expired.Body) != "Jwt is expired" {
			t.Errorf("an expired token: %v, want 401 Jwt is expired", expired)
		}
		// The app sees the verified payload (outputPayloadToHeader), and not
		// the token, which jwt_authn removes (forwardOriginalToken unset).
		a := s.send(t, bearer(get("/"), valid("alice", map[string]any{"groups": []string{"admins"}})))
		payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(a.Echo.Headers["x-jwt-payload"], "="))
		var claims map[string]any
		if err != nil || json.Unmarshal(payload, &claims) != nil || claims["sub"] != "alice" || claims["iss"] != jwtIssuer {
			t.Errorf("x-jwt-payload %q: want the token's payload (%v)", a.Echo.Headers["x-jwt-payload"], err)
		}
		if h, ok := a.Echo.Headers["authorization"]; ok {
			t.Errorf("the app got the token (authorization: %q); jwt_authn should have removed it", h)
		}
	})

	t.Run("requestPrincipals", func(t *testing.T) {
		s.apply(t, "policy.yaml", policy("alice-only", `  rules:
  - from:
    - source:
        requestPrincipals: ["`+alice+`"]
`), get("/"), denied)
		s.check(t, allowed, bearer(get("/"), valid("alice", nil)))
		s.check(t, denied, bearer(get("/"), valid("bob", nil)))
		s.check(t, unauthenticated, bearer(get("/"), "not-a-jwt"))
	})

	t.Run("claims and request.auth conditions", func(t *testing.T) {
		s.apply(t, "policy.yaml", policy("admins", `  rules:
  - from:
    - source:
        requestPrincipals: ["`+jwtIssuer+`/*"]
        notRequestPrincipals: ["*/mallory"]
    when:
    - key: request.auth.claims[groups]
      values: ["admins"]
    - key: request.auth.claims[org][team]
      values: ["shop"]
`), bearer(get("/"), valid("bob", map[string]any{"groups": []string{"users", "admins"}, "org": map[string]any{"team": "shop"}})), allowed)
		s.check(t, denied,
			get("/"),
			bearer(get("/"), valid("alice", nil)),
			bearer(get("/"), valid("alice", map[string]any{"groups": []string{"users"}, "org": map[string]any{"team": "shop"}})),
			bearer(get("/"), valid("alice", map[string]any{"groups": []string{"admins"}, "org": map[string]any{"team": "web"}})),
			bearer(get("/"), valid("mallory", map[string]any{"groups": []string{"admins"}, "org": map[string]any{"team": "shop"}})),
		)
		s.check(t, allowed, bearer(get("/"), valid("carol", map[string]any{"groups": "admins", "org": map[string]any{"team": "shop"}})))
	})

	t.Run("token locations, audiences, forwarding", func(t *testing.T) {
		s.WriteFile("policy.yaml", policy("any-principal", `  rules:
  - from:
    - source:
        requestPrincipals: ["*"]
    when:
    - key: request.auth.audiences
      values: ["catalogue"]
`))
		s.apply(t, "jwt.yaml", requestAuthentication(`  - issuer: "`+jwtIssuer+`"
    jwksUri: "`+jwksURL+`"
    audiences: ["catalogue", "shop"]
    fromHeaders:
    - name: x-jwt-assertion
    fromParams: ["access_token"]
    forwardOriginalToken: true
`), get("/").with("x-jwt-assertion", valid("alice", map[string]any{"aud": "catalogue"})), allowed)
		catalogueToken := valid("alice", map[string]any{"aud": []string{"web", "catalogue"}})
		s.check(t, allowed, get("/?access_token="+catalogueToken))
		// Authorization is not among the rule's locations: no token, denied.
		s.check(t, denied, bearer(get("/"), catalogueToken), get("/").with("x-jwt-assertion", valid("alice", map[string]any{"aud": "shop"})))
		s.check(t, wrongAudience, get("/").with("x-jwt-assertion", valid("alice", map[string]any{"aud": "web"})))
		a := s.send(t, get("/").with("x-jwt-assertion", catalogueToken))
		if a.Echo == nil || a.Echo.Headers["x-jwt-assertion"] != catalogueToken {
			t.Errorf("forwardOriginalToken: the app got %v, want the token in x-jwt-assertion", a)
		}
	})
}
