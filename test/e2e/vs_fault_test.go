package e2e

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestVSFault: fault injection by the client's sidecar, per route.
//   - /delayed: a fixed delay of 300ms on every request; each answer takes
//     at least that long, and still comes from the app.
//   - /aborted: 10% of requests are answered 500 by the sidecar itself (no
//     app behind the answer), the rest reach the app.
//   - everything else: no fault.
func TestVSFault(t *testing.T) {
	const delay, timerGrace = 300 * time.Millisecond, 10 * time.Millisecond
	s := newVSMesh(t, vsFrontEnd(`- name: delayed
  match:
  - uri:
      prefix: /delayed
  fault:
    delay:
      fixedDelay: 300ms
      percentage:
        value: 100
`+vsToSubset("v1")+`- name: aborted
  match:
  - uri:
      prefix: /aborted
  fault:
    abort:
      httpStatus: 500
      percentage:
        value: 10
`+vsToSubset("v1")+`- name: default
`+vsToSubset("v1")))
	s.start(t)
	c := s.client.Client()
	s.waitVS(t, vsURL("/delayed/warm-up"), nil, func(a *harness.Answer) bool { return a.Status == http.StatusOK && a.ServedBy == "front-end-v1" })

	t.Run("delay", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			a, took := vsTimed(t, c, http.MethodGet, vsURL("/delayed/x"), nil)
			if a.Status != http.StatusOK || a.Echo == nil {
				t.Fatalf("GET /delayed/x: %v", a)
			}
			// A lower bound only: a loaded machine makes answers slow, never
			// fast. Envoy's timers run on its event loop's cached clock and
			// have been seen to fire a millisecond early (299.07ms for
			// 300ms), hence the 10ms grace; an undelayed answer takes ~2ms.
			if took < delay-timerGrace {
				t.Errorf("GET /delayed/x took %v, want at least the injected %v", took, delay)
			}
			t.Logf("GET /delayed/x took %v (fixedDelay %v)", took, delay)
		}
		_, took := vsTimed(t, c, http.MethodGet, vsURL("/other"), nil)
		t.Logf("GET /other, no fault, took %v", took)
	})

	// Each request is aborted independently with p = 0.1, so the number of
	// aborts in n requests is binomial(n, 0.1): its share has standard
	// deviation sqrt(0.1*0.9/n), 0.0095 for n = 1000. Five standard
	// deviations (±0.047) are exceeded by chance with probability about
	// 6e-7; a share of 0 (no fault) or 0.2 is more than 10 deviations away.
	t.Run("abort", func(t *testing.T) {
		const n, p, workers = 1000, 0.1, 8
		var next atomic.Int64
		var mu sync.Mutex
		var aborted, passed int
		var failures []string
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= n {
					a, err := harness.Get(c, vsURL("/aborted/x"), "")
					mu.Lock()
					switch {
					case err != nil:
						failures = append(failures, err.Error())
					case a.Status == http.StatusInternalServerError && a.ServedBy == "" && strings.Contains(string(a.Body), "fault filter abort"):
						aborted++
					case a.Status == http.StatusOK && a.Echo != nil && a.Echo.Pod == "front-end-v1":
						passed++
					default:
						failures = append(failures, a.String())
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("%d of %d requests neither aborted by the sidecar nor answered by v1; first: %s", len(failures), n, failures[0])
		}
		t.Logf("aborted %d, passed %d", aborted, passed)
		checkShare(t, "aborted", aborted, n, p)
	})
}
