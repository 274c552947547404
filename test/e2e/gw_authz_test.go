package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestGatewayAuthorizationAndJWT: Istio's ingress tasks: policies in the
// root namespace selecting the ingress gateway by label apply at the
// gateway itself. /api needs a valid JWT of the issuer (inline keys);
// everything else is open.
func TestGatewayAuthorizationAndJWT(t *testing.T) {
	keys := harness.NewJWTIssuer(t, jwtIssuer, "gw-key")
	s := startGatewayShop(t, map[string]string{
		"gateway.yaml": shopGateway(`  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
`),
		"vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop
  namespace: sock-shop
spec:
  hosts: ["*"]
  gateways: [shop-gateway]
  http:
  - route:
    - destination: {host: front-end}
`,
		"security.yaml": `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: ingress-jwt
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  jwtRules:
  - issuer: "` + jwtIssuer + `"
    jwks: '` + keys.JWKS() + `'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: api-needs-jwt
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: DENY
  rules:
  - from:
    - source:
        notRequestPrincipals: ["*"]
    to:
    - operation:
        paths: ["/api/*"]
`,
	})
	c := s.gw.Client(nil)
	if _, err := harness.WaitForRoute(c, "http://shop.example.com:8080/", nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	token := keys.Token(t, map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	for _, tc := range []struct {
		name, path, token string
		status            int
		body              string
	}{
		{"open path", "/", "", http.StatusOK, ""},
		{"api without a token", "/api/items", "", http.StatusForbidden, rbacDenied},
		{"api with a valid token", "/api/items", token, http.StatusOK, ""},
		{"api with an invalid token", "/api/items", "not-a-jwt", http.StatusUnauthorized, ""},
		{"open path with an invalid token", "/", "not-a-jwt", http.StatusUnauthorized, ""},
	} {
		var h http.Header
		if tc.token != "" {
			h = http.Header{"Authorization": {"Bearer " + tc.token}}
		}
		a, err := harness.Do(c, http.MethodGet, "http://shop.example.com:8080"+tc.path, h)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case a.Status != tc.status || (tc.status == http.StatusOK) != (a.Echo != nil) || (tc.body != "" && string(a.Body) != tc.body):
			t.Errorf("%s: %v, want %d %s", tc.name, a, tc.status, tc.body)
		}
	}
}
