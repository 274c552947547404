package harness

import (
	"sync"
	"sync/atomic"
)

// CountVersions runs `try` n times, `workers` at a time, and counts the
// versions it returns; each error is kept, described. The statistical
// tests (weighted splits, aborts) all measure this way.
func CountVersions(n, workers int, try func() (version string, err error)) (map[string]int, []string) {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		wg       sync.WaitGroup
		count    = map[string]int{}
		failures []string
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				version, err := try()
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					count[version]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return count, failures
}
