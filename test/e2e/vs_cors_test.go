package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestVSCors: a corsPolicy on front-end. The client's sidecar answers a
// preflight from an allowed origin itself, with exactly the configured
// allow-origin (the origin), methods, headers, max-age and credentials;
// a preflight from any other origin gets no CORS header at all (it goes on
// to the app, whose answer has none). A plain request from an allowed
// origin reaches the app and gets allow-origin and expose-headers added.
func TestVSCors(t *testing.T) {
	s := newVSMesh(t, vsFrontEnd(`- name: cors
  corsPolicy:
    allowOrigins:
    - exact: https://shop.example.com
    - prefix: https://admin.
    allowMethods:
    - GET
    - POST
    allowHeaders:
    - x-custom
    - content-type
    exposeHeaders:
    - x-request-id
    maxAge: 24h
    allowCredentials: true
`+vsToSubset("v1")))
	s.start(t)
	c := s.client.Client()
	preflight := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"x-custom"}}
	}
	// A GET from an allowed origin gets allow-origin once the policy is in.
	s.waitVS(t, vsURL("/cart"), http.Header{"Origin": {"https://shop.example.com"}}, func(a *harness.Answer) bool {
		return a.Header.Get("Access-Control-Allow-Origin") != ""
	})
	options := func(origin string) *harness.Answer {
		t.Helper()
		return vsSend(t, c, http.MethodOptions, vsURL("/cart"), preflight(origin))
	}

	for _, origin := range []string{"https://shop.example.com", "https://admin.example.com"} {
		a := options(origin)
		if a.Status != http.StatusOK || a.ServedBy != "" {
			t.Errorf("preflight from %s: %v, want 200 from the sidecar itself", origin, a)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      origin,
			"Access-Control-Allow-Methods":     "GET,POST",
			"Access-Control-Allow-Headers":     "x-custom,content-type",
			"Access-Control-Max-Age":           "86400",
			"Access-Control-Allow-Credentials": "true",
		}
		for name, value := range want {
			if got := a.Header.Values(name); len(got) != 1 || got[0] != value {
				t.Errorf("preflight from %s: %s is %q, want exactly %q", origin, name, got, value)
			}
		}
	}

	for _, origin := range []string{"https://evil.example.com", "https://shop.example.com.evil", "http://shop.example.com"} {
		a := options(origin)
		if names := corsHeaders(a.Header); len(names) > 0 {
			t.Errorf("preflight from %s (not allowed): got %v, want no CORS header", origin, names)
		}
		if a.ServedBy != "front-end-v1" {
			t.Errorf("preflight from %s (not allowed): %v, want it passed on to the app (unmatchedPreflights FORWARD)", origin, a)
		}
	}

	a := vsSend(t, c, http.MethodGet, vsURL("/cart"), http.Header{"Origin": {"https://shop.example.com"}})
	if a.Status != http.StatusOK || a.ServedBy != "front-end-v1" {
		t.Fatalf("GET from an allowed origin: %v", a)
	}
	if got := a.Header.Get("Access-Control-Allow-Origin"); got != "https://shop.example.com" {
		t.Errorf("GET from an allowed origin: allow-origin %q", got)
	}
	if got := a.Header.Get("Access-Control-Expose-Headers"); got != "x-request-id" {
		t.Errorf("GET from an allowed origin: expose-headers %q, want x-request-id", got)
	}
	a = vsSend(t, c, http.MethodGet, vsURL("/cart"), http.Header{"Origin": {"https://evil.example.com"}})
	if names := corsHeaders(a.Header); a.ServedBy != "front-end-v1" || len(names) > 0 {
		t.Errorf("GET from another origin: %v with CORS headers %v, want the app's answer and none", a, names)
	}
}

// corsHeaders lists the Access-Control-* headers of an answer.
func corsHeaders(h http.Header) []string {
	var names []string
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "access-control-") {
			names = append(names, name)
		}
	}
	return names
}
