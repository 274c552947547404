package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestVSRetriesAndTimeout: the client's sidecar retries as the route says,
// and gives up at the route's timeout. The echo app's /flaky/<n>/<code>/<key>
// fails the first n tries of a path, /slow/<n>/<ms>/<key> stalls them, and
// it lists every try it received, so each case counts the tries.
func TestVSRetriesAndTimeout(t *testing.T) {
	s := newVSMesh(t, vsFrontEnd(`- name: one-retry
  match:
  - uri:
      prefix: /flaky/
    headers:
      x-retries:
        exact: one
  retries:
    attempts: 1
`+vsToSubset("v1")+`- name: no-retries
  match:
  - uri:
      prefix: /flaky/
    headers:
      x-retries:
        exact: zero
  retries:
    attempts: 0
`+vsToSubset("v1")+`- name: istio-default
  match:
  - uri:
      prefix: /flaky/
    headers:
      x-retries:
        exact: default
`+vsToSubset("v1")+`- name: three-retries
  match:
  - uri:
      prefix: /flaky/
  retries:
    attempts: 3
    perTryTimeout: 1s
`+vsToSubset("v1")+`- name: per-try-timeout
  match:
  - uri:
      prefix: /slow/
  retries:
    attempts: 3
    perTryTimeout: 1s
    retryOn: gateway-error
`+vsToSubset("v1")+`- name: deadline
  match:
  - uri:
      prefix: /delay/
  timeout: 500ms
`+vsToSubset("v1")+`- name: default
`+vsToSubset("v1")))
	s.start(t)
	c := s.client.Client()
	s.waitVS(t, vsURL("/warm-up"), nil, func(a *harness.Answer) bool { return a.Status == http.StatusOK && a.ServedBy == "front-end-v1" })

	tries := func(t *testing.T, path string, want int) {
		t.Helper()
		got, err := harness.WaitEchoRequests(s.v1, 8080, path, 5*time.Second, func(r []harness.EchoRequest) bool { return len(r) >= want })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("v1 saw %d tries of %s, want %d", len(got), path, want)
		}
	}

	// attempts: 3 with retryOn unset: Istio's default conditions, which
	// retry a 503. Two failures, then the third try answers.
	t.Run("fails twice then succeeds", func(t *testing.T) {
		a := vsSend(t, c, http.MethodGet, vsURL("/flaky/2/503/three"), nil)
		if a.Status != http.StatusOK || a.ServedBy != "front-end-v1" {
			t.Fatalf("GET /flaky/2/503/three: %v, want v1's answer after two retries", a)
		}
		tries(t, "/flaky/2/503/three", 3)
	})

	// attempts: 1 is one retry: two tries, both fail, the client sees 503.
	t.Run("one retry is not enough", func(t *testing.T) {
		a := vsSend(t, c, http.MethodGet, vsURL("/flaky/2/503/one"), http.Header{"X-Retries": {"one"}})
		if a.Status != http.StatusServiceUnavailable || a.ServedBy != "front-end-v1" {
			t.Fatalf("GET /flaky/2/503/one: %v, want v1's 503 after one retry", a)
		}
		tries(t, "/flaky/2/503/one", 2)
	})

	// attempts: 0 turns retries off: one try.
	t.Run("no retries", func(t *testing.T) {
		a := vsSend(t, c, http.MethodGet, vsURL("/flaky/1/503/zero"), http.Header{"X-Retries": {"zero"}})
		if a.Status != http.StatusServiceUnavailable || a.ServedBy != "front-end-v1" {
			t.Fatalf("GET /flaky/1/503/zero: %v, want v1's 503, not retried", a)
		}
		tries(t, "/flaky/1/503/zero", 1)
	})

	// No retries field: Istio's default policy, two retries of a 503.
	t.Run("istio default", func(t *testing.T) {
		a := vsSend(t, c, http.MethodGet, vsURL("/flaky/2/503/default"), http.Header{"X-Retries": {"default"}})
		if a.Status != http.StatusOK || a.ServedBy != "front-end-v1" {
			t.Fatalf("GET /flaky/2/503/default: %v, want v1's answer after Istio's two default retries", a)
		}
		tries(t, "/flaky/2/503/default", 3)
	})

	// The first try stalls for 3s; perTryTimeout cuts it at 1s and
	// gateway-error retries it, and the second try answers at once.
	t.Run("per-try timeout", func(t *testing.T) {
		a, took := vsTimed(t, c, http.MethodGet, vsURL("/slow/1/3000/per-try"), nil)
		if a.Status != http.StatusOK || a.ServedBy != "front-end-v1" {
			t.Fatalf("GET /slow/1/3000/per-try: %v, want v1's answer to the retry", a)
		}
		t.Logf("answered after %v (perTryTimeout 1s, first try stalls 3s)", took)
		if took < 950*time.Millisecond || took >= 2900*time.Millisecond {
			t.Errorf("answered after %v: want the per-try timeout (1s), then the retry, well before the 3s stall ends", took)
		}
		tries(t, "/slow/1/3000/per-try", 2)
	})

	// timeout: 500ms on an app that takes 3s: the sidecar answers 504
	// itself at about 500ms.
	t.Run("route timeout", func(t *testing.T) {
		a, took := vsTimed(t, c, http.MethodGet, vsURL("/delay/3000"), nil)
		if a.Status != http.StatusGatewayTimeout || a.ServedBy != "" || !strings.Contains(string(a.Body), "upstream request timeout") {
			t.Fatalf("GET /delay/3000: %v, want the sidecar's 504 upstream request timeout", a)
		}
		t.Logf("504 after %v (timeout 500ms)", took)
		if took < 450*time.Millisecond || took >= 2500*time.Millisecond {
			t.Errorf("504 after %v, want about 500ms (the app would have answered at 3s)", took)
		}
	})
}
