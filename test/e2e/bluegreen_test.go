package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestBlueGreenSwitchWhileTrafficFlows: all of front-end goes to v1 while a
// few clients send requests in a loop; the VirtualService file is replaced
// (atomically: write elsewhere, rename in) by one sending all to v2. No
// request may fail, and v2 must answer within a second of the write.
func TestBlueGreenSwitchWhileTrafficFlows(t *testing.T) {
	const (
		workers = 4
		// The switch must be seen this soon after the file is written:
		// pilotlight's debounce (100ms) plus a push is far less.
		switchBudget = time.Second
		// After the write, each worker goes on until it has had this many
		// answers from v2 and this long has passed, to catch failures and
		// stragglers after the switch.
		afterSwitch     = 50
		afterSwitchTime = 2 * time.Second
		// Bounds of the whole loop, whatever happens.
		maxDuration = 30 * time.Second
		maxRequests = 20000
	)
	s := startSockShop(t, map[string]string{
		"front-end-destinationrule.yaml": destinationRuleFrontEnd,
		"front-end-virtualservice.yaml":  virtualServiceAllTo("v1"),
	})
	// Green (v2) is deployed and known to the client's sidecar before the
	// switch, as in a real blue-green release.
	s.waitClusters(t, frontEndV1Cluster, frontEndV2Cluster)
	c := s.client.Client()
	if _, err := harness.WaitForRoute(c, frontEndURL, nil, converge, servedByVersion("v1")); err != nil {
		t.Fatal(err)
	}

	var (
		mu        sync.Mutex
		results   []shot
		seenV2    = make([]int, workers) // answers from v2 per worker
		written   time.Time              // when the switch was written; zero before
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		loopStart = time.Now()
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				switched := !written.IsZero() && seenV2[w] >= afterSwitch && time.Since(written) >= afterSwitchTime
				if switched || len(results) >= maxRequests || time.Since(loopStart) > maxDuration {
					mu.Unlock()
					return
				}
				mu.Unlock()
				r := fire(c, frontEndURL)
				mu.Lock()
				results = append(results, r)
				if r.version == "v2" {
					seenV2[w]++
				}
				mu.Unlock()
			}
		}(w)
	}
	defer func() { close(stop); wg.Wait() }()

	// Traffic flows before the switch.
	err := harness.Eventually(10*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(results) < 100 {
			return fmt.Errorf("only %d requests done", len(results))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	at := s.WriteFile("front-end-virtualservice.yaml", virtualServiceAllTo("v2"))
	mu.Lock()
	written = at
	mu.Unlock()

	wg.Wait() // every worker is done with the switch, or hit a bound
	mu.Lock()
	defer mu.Unlock()

	var failed []shot
	var firstV2End, lastV1Start time.Time
	v1, v2 := 0, 0
	for _, r := range results {
		switch r.version {
		case "v1":
			v1++
			if r.start.After(lastV1Start) {
				lastV1Start = r.start
			}
		case "v2":
			v2++
			if firstV2End.IsZero() || r.end.Before(firstV2End) {
				firstV2End = r.end
			}
			if r.end.Before(written) {
				t.Errorf("a request answered by v2 before the switch was written (%v before)", written.Sub(r.end))
			}
		default:
			failed = append(failed, r)
		}
	}
	t.Logf("%d requests in %v: %d v1, %d v2, %d failed", len(results), time.Since(loopStart).Round(time.Millisecond), v1, v2, len(failed))
	if len(failed) > 0 {
		for i, r := range failed {
			if i == 5 {
				break
			}
			t.Errorf("request started %v after the write failed: %s", r.start.Sub(written), r.err)
		}
		t.Errorf("%d requests failed, want none", len(failed))
	}
	if firstV2End.IsZero() {
		t.Fatalf("v2 never answered within %v of the write", maxDuration)
	}
	observed := firstV2End.Sub(written)
	t.Logf("switch observed %v after the write; the last request answered by v1 started %v after it",
		observed.Round(time.Millisecond), lastV1Start.Sub(written).Round(time.Millisecond))
	if observed > switchBudget {
		t.Errorf("the switch to v2 was observed %v after the write, want within %v", observed, switchBudget)
	}
	if late := lastV1Start.Sub(written); late > switchBudget {
		t.Errorf("a request started %v after the write was still answered by v1, want all v2 after %v", late, switchBudget)
	}
}
