package e2e

import (
	"net/http"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestVSMatchKinds: each rule sends what it matches to v2, and the last
// rule everything else to v1, so the version that answers says which rule
// matched. Every kind of condition is tried on both sides of its edge:
// method, queryParams (value and presence, two match blocks OR'ed), an AND
// of three conditions in one block, withoutHeaders, ignoreUriCase and
// sourceLabels (the client pod's own labels: sleep matches, tester not).
func TestVSMatchKinds(t *testing.T) {
	s := newVSMesh(t, vsFrontEnd(`- name: method
  match:
  - uri:
      prefix: /method
    method:
      exact: POST
`+vsToSubset("v2")+`- name: query
  match:
  - uri:
      prefix: /query
    queryParams:
      user:
        exact: jason
  - uri:
      prefix: /query
    queryParams:
      debug: {}
`+vsToSubset("v2")+`- name: and
  match:
  - uri:
      prefix: /and
    method:
      exact: GET
    headers:
      x-a:
        regex: "[0-9]+"
`+vsToSubset("v2")+`- name: without
  match:
  - uri:
      prefix: /without
    withoutHeaders:
      x-canary:
        exact: "false"
`+vsToSubset("v2")+`- name: ignore-case
  match:
  - uri:
      prefix: /Case/
    ignoreUriCase: true
`+vsToSubset("v2")+`- name: source
  match:
  - uri:
      prefix: /source
    sourceLabels:
      app: sleep
`+vsToSubset("v2")+`- name: default
`+vsToSubset("v1")))
	tester := s.AddClient("tester")
	s.start(t)
	sleep := s.client.Client()
	s.waitVS(t, vsURL("/source"), nil, servedByVersion("v2"))
	if _, err := harness.WaitForCluster(tester.Admin(), frontEndV1Cluster, converge); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForRoute(tester.Client(), vsURL("/method"), nil, converge, servedByVersion("v1")); err != nil {
		t.Fatal(err)
	}

	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		client       *http.Client
		from         string
		method, path string
		header       http.Header
		want         string
	}{
		{sleep, "sleep", "POST", "/method", nil, "v2"},
		{sleep, "sleep", "GET", "/method", nil, "v1"},
		{sleep, "sleep", "GET", "/query?user=jason", nil, "v2"},
		{sleep, "sleep", "GET", "/query?user=jasonx", nil, "v1"}, // exact
		{sleep, "sleep", "GET", "/query?debug=1", nil, "v2"},     // presence, the second block
		{sleep, "sleep", "GET", "/query?user=bob&debug", nil, "v2"},
		{sleep, "sleep", "GET", "/query?User=jason", nil, "v1"}, // names are case-sensitive
		{sleep, "sleep", "GET", "/and", h("x-a", "42"), "v2"},
		{sleep, "sleep", "GET", "/and", h("x-a", "4x"), "v1"}, // regex is anchored
		{sleep, "sleep", "GET", "/and", nil, "v1"},
		{sleep, "sleep", "POST", "/and", h("x-a", "42"), "v1"},
		{sleep, "sleep", "GET", "/without", nil, "v2"}, // no header: without the value
		{sleep, "sleep", "GET", "/without", h("x-canary", "true"), "v2"},
		{sleep, "sleep", "GET", "/without", h("x-canary", "false"), "v1"},
		{sleep, "sleep", "GET", "/Case/x", nil, "v2"},
		{sleep, "sleep", "GET", "/cAsE/x", nil, "v2"},
		{sleep, "sleep", "GET", "/CASE/", nil, "v2"},
		{sleep, "sleep", "GET", "/Cases", nil, "v1"},
		{sleep, "sleep", "GET", "/source", nil, "v2"},
		{tester.Client(), "tester", "GET", "/source", nil, "v1"},
		{tester.Client(), "tester", "POST", "/method", nil, "v2"}, // the other rules are everyone's
	}
	for round := 0; round < 3; round++ {
		for _, tc := range cases {
			a := vsSend(t, tc.client, tc.method, vsURL(tc.path), tc.header)
			if a.Status != http.StatusOK || a.Echo == nil || a.Echo.Version != tc.want {
				t.Errorf("%s: %s %s %v: %v, want %s", tc.from, tc.method, tc.path, tc.header, a, tc.want)
			}
		}
		if t.Failed() {
			break
		}
	}
}
