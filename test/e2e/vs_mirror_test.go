package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestVSMirror: all of front-end goes to v1, and 100% of it is mirrored to
// v2. Clients only ever get v1's answers; v2 gets one copy of every
// request, fire and forget, with "-shadow" appended to the Host (Envoy's
// mark of a mirrored request); v1 sees the originals with the Host as sent.
func TestVSMirror(t *testing.T) {
	s := newVSMesh(t, vsFrontEnd(`- name: mirrored
  route:
  - destination:
      host: front-end
      subset: v1
    weight: 100
  mirror:
    host: front-end
    subset: v2
  mirrorPercentage:
    value: 100
`))
	s.start(t)
	c := s.client.Client()
	// Until the VirtualService is in, answers come from both pods.
	s.waitVS(t, vsURL("/warm-up"), nil, func(a *harness.Answer) bool { return a.Status == http.StatusOK && a.ServedBy == "front-end-v1" })
	for i := 0; i < 5; i++ { // and stay with v1
		s.waitVS(t, vsURL("/warm-up"), nil, servedByVersion("v1"))
	}

	const n = 20
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("/mirror/%d", i)
		a := vsSend(t, c, http.MethodGet, vsURL(path), nil)
		if a.Status != http.StatusOK || a.Echo == nil || a.Echo.Pod != "front-end-v1" {
			t.Fatalf("GET %s: %v, want v1's answer (the mirror's answer is dropped)", path, a)
		}
		if a.Echo.Host != "front-end.sock-shop" {
			t.Errorf("GET %s: v1 saw Host %q, want front-end.sock-shop", path, a.Echo.Host)
		}
	}
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("/mirror/%d", i)
		copies, err := harness.WaitEchoRequests(s.v2, 8080, path, converge, func(r []harness.EchoRequest) bool { return len(r) > 0 })
		if err != nil {
			t.Fatalf("v2 never saw the copy of %s: %v", path, err)
		}
		if len(copies) != 1 || copies[0].Host != "front-end.sock-shop-shadow" || copies[0].Method != http.MethodGet {
			t.Errorf("v2 saw %+v for %s: want one GET copy with Host front-end.sock-shop-shadow", copies, path)
		}
	}
	// v1 got each original once, never a copy.
	seen, err := harness.EchoRequests(s.v1, 8080)
	if err != nil {
		t.Fatal(err)
	}
	originals := 0
	for _, r := range seen {
		if !strings.HasPrefix(r.Path, "/mirror/") {
			continue // the harness's /healthz, the warm-up
		}
		originals++
		if r.Host != "front-end.sock-shop" {
			t.Errorf("v1 saw Host %q on %s: copies must go to v2 only", r.Host, r.Path)
		}
	}
	if originals != n {
		t.Errorf("v1 saw %d of the %d requests", originals, n)
	}
}
