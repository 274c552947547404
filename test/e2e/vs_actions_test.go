package e2e

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestVSRewriteRedirectDirectResponseHeaders: what a rule does with a
// request besides choosing a destination, each seen from both ends: the
// client's answer and what the app received.
func TestVSRewriteRedirectDirectResponseHeaders(t *testing.T) {
	s := newVSMesh(t, vsFrontEnd(`- name: redirect
  match:
  - uri:
      exact: /old
  redirect:
    uri: /new
    authority: catalogue.sock-shop
    redirectCode: 302
- name: redirect-https
  match:
  - uri:
      prefix: /secure/
  redirect:
    prefixRewrite: /tls/
    scheme: https
    port: 8443
- name: health
  match:
  - uri:
      exact: /health
  directResponse:
    status: 200
    body:
      string: "ok\n"
  headers:
    response:
      set:
        content-type: text/plain
- name: teapot
  match:
  - uri:
      exact: /teapot
  directResponse:
    status: 418
- name: rewrite
  match:
  - uri:
      prefix: /v1/
  rewrite:
    uri: /
    authority: front-end.internal
`+vsToSubset("v1")+`- name: regex-rewrite
  match:
  - uri:
      prefix: /users/
  rewrite:
    uriRegexRewrite:
      match: ^/users/([^/]+)/profile$
      rewrite: /profile/\1
`+vsToSubset("v1")+`- name: headers
  match:
  - uri:
      prefix: /headers
  headers:
    request:
      set:
        x-route: set
        x-user-copy: "%REQ(x-user)%"
        x-discount: "100%%"
      add:
        x-route-add: added
      remove:
      - x-secret
    response:
      set:
        x-served-route: headers
      add:
        cache-control: no-store
      remove:
      - content-type
  route:
  - destination:
      host: front-end
      subset: v1
    headers:
      request:
        set:
          x-destination: v1
      response:
        add:
          x-destination-seen: v1
- name: split-headers
  match:
  - uri:
      prefix: /split
  route:
  - destination:
      host: front-end
      subset: v1
    weight: 50
    headers:
      request:
        set:
          x-subset: v1
  - destination:
      host: front-end
      subset: v2
    weight: 50
    headers:
      request:
        set:
          x-subset: v2
      response:
        set:
          x-version: v2
- name: default
`+vsToSubset("v1")))
	s.start(t)
	c := s.client.Client()
	s.waitVS(t, vsURL("/health"), nil, func(a *harness.Answer) bool { return a.Status == http.StatusOK && string(a.Body) == "ok\n" })

	t.Run("redirect", func(t *testing.T) {
		a := vsSend(t, c, http.MethodGet, vsURL("/old"), nil)
		if a.Status != http.StatusFound || a.Header.Get("Location") != "http://catalogue.sock-shop/new" || a.ServedBy != "" {
			t.Errorf("GET /old: %v Location %q, want the sidecar's 302 to http://catalogue.sock-shop/new", a, a.Header.Get("Location"))
		}
		a = vsSend(t, c, http.MethodGet, vsURL("/secure/cart?item=1"), nil)
		if want := "https://front-end.sock-shop:8443/tls/cart?item=1"; a.Status != http.StatusMovedPermanently || a.Header.Get("Location") != want {
			t.Errorf("GET /secure/cart?item=1: %v Location %q, want 301 to %s", a, a.Header.Get("Location"), want)
		}
	})

	t.Run("direct response", func(t *testing.T) {
		a := vsSend(t, c, http.MethodGet, vsURL("/health"), nil)
		if a.Status != http.StatusOK || string(a.Body) != "ok\n" || a.Header.Get("Content-Type") != "text/plain" || a.ServedBy != "" {
			t.Errorf("GET /health: %v content-type %q, want the sidecar's 200 ok, text/plain", a, a.Header.Get("Content-Type"))
		}
		a = vsSend(t, c, http.MethodGet, vsURL("/teapot"), nil)
		if a.Status != http.StatusTeapot || len(a.Body) != 0 || a.ServedBy != "" {
			t.Errorf("GET /teapot: %v, want the sidecar's empty 418", a)
		}
	})

	t.Run("rewrite", func(t *testing.T) {
		a := getOK(t, c, vsURL("/v1/catalogue/42"), "")
		if a.Echo.Path != "/catalogue/42" || a.Echo.Host != "front-end.internal" || a.Echo.Pod != "front-end-v1" {
			t.Errorf("GET /v1/catalogue/42: v1 should see /catalogue/42 for front-end.internal, the app saw %s for %s (%s)", a.Echo.Path, a.Echo.Host, a.Echo.Pod)
		}
		a = getOK(t, c, vsURL("/users/jason/profile"), "")
		if a.Echo.Path != "/profile/jason" || a.Echo.Host != "front-end.sock-shop" {
			t.Errorf("GET /users/jason/profile: the app saw %s for %s, want /profile/jason for front-end.sock-shop", a.Echo.Path, a.Echo.Host)
		}
		a = getOK(t, c, vsURL("/users/jason/orders"), "")
		if a.Echo.Path != "/users/jason/orders" {
			t.Errorf("GET /users/jason/orders (the regex does not match): the app saw %s", a.Echo.Path)
		}
	})

	t.Run("headers", func(t *testing.T) {
		a := vsSend(t, c, http.MethodGet, vsURL("/headers"), http.Header{
			"X-Route": {"from-client"}, "X-Route-Add": {"from-client"}, "X-Secret": {"s3cret"}, "X-User": {"jason"},
		})
		var e harness.EchoResponse // content-type is removed: decode by hand
		if a.Status != http.StatusOK || a.ServedBy != "front-end-v1" || json.Unmarshal(a.Body, &e) != nil {
			t.Fatalf("GET /headers: %v", a)
		}
		for name, want := range map[string]string{
			"x-route":       "set", // set overwrites
			"x-route-add":   "from-client, added",
			"x-secret":      "",
			"x-user-copy":   "jason", // %REQ(x-user)%
			"x-discount":    "100%",  // %% is a literal %
			"x-destination": "v1",
		} {
			if got := e.Headers[name]; got != want {
				t.Errorf("the app saw %s: %q, want %q", name, got, want)
			}
		}
		for name, want := range map[string]string{
			"X-Served-Route":     "headers",
			"Cache-Control":      "no-store",
			"Content-Type":       "",
			"X-Destination-Seen": "v1",
		} {
			if got := a.Header.Get(name); got != want {
				t.Errorf("the answer's %s: %q, want %q", name, got, want)
			}
		}
	})

	// Each destination of a split carries its own headers. 40 requests all
	// to one of two halves would happen with probability 2^-39.
	t.Run("split headers", func(t *testing.T) {
		seen := map[string]int{}
		for i := 0; i < 40; i++ {
			a := getOK(t, c, vsURL("/split"), "")
			v := a.Echo.Version
			seen[v]++
			if a.Echo.Headers["x-subset"] != v {
				t.Fatalf("%s saw x-subset %q", v, a.Echo.Headers["x-subset"])
			}
			if want := map[string]string{"v1": "", "v2": "v2"}[v]; a.Header.Get("X-Version") != want {
				t.Fatalf("answer from %s has x-version %q, want %q", v, a.Header.Get("X-Version"), want)
			}
		}
		if seen["v1"] == 0 || seen["v2"] == 0 {
			t.Errorf("40 requests went to %v, want both subsets", seen)
		}
	})
}
