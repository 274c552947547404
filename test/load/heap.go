package load

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The harness's heap is grown before the cold sync, so that the sync
// does not pay for it.
//
// The simulated sidecars live in this one process, on the server's cores.
// In a cold sync most of what the server sends is in flight here at once
// (a thousand sidecars, each holding a response it has not read yet), so
// the harness's heap grows by gigabytes, and every new page is a page
// fault the kernel zeroes; on a virtual machine that backs its memory
// lazily, a slow one. At 1000×10 with 1,000 SotW sidecars on the 2-core
// machine of docs/performance.md, perf saw 58 % of all CPU time (both
// cores) in the kernel zeroing pages for the harness, and the sync took
// 14 to 19 s while the server used about 6 CPU-s; with the heap grown
// first, 5.9 s. Real sidecars run elsewhere, their memory long in place.
//
// warmHeap grows the heap by touching every page of heapFor(p) bytes,
// then lets the bytes go: the Go runtime keeps freed pages and hands them
// out again (its scavenger returns them to the kernel only slowly).

// bytesPerService is about what the harness holds at its peak, per
// sidecar per service the sidecar reaches: 1.4 times the 3.6 KB a
// sidecar receives per service at 1000×10 (3 clusters, 3 load
// assignments, a virtual host).
const bytesPerService = 5 << 10

// heapFor is the heap a point's cold sync needs, at most 60 % of the
// memory available now (0 when /proc/meminfo cannot tell).
func heapFor(p Point) int64 {
	reached := p.Services
	if p.Scoped {
		reached = (p.Services + p.namespaces() - 1) / p.namespaces()
	}
	want := int64(p.Proxies) * int64(reached) * bytesPerService
	return min(want, memAvailable()*6/10)
}

// warmHeap touches bytes of new heap and frees it; it logs how long that
// took, which no measurement includes.
func warmHeap(t testing.TB, bytes int64) {
	if bytes <= 0 {
		return
	}
	const chunk = 4 << 20
	start := time.Now()
	chunks := make([][]byte, 0, bytes/chunk+1)
	for n := int64(0); n < bytes; n += chunk {
		b := make([]byte, chunk)
		for i := 0; i < len(b); i += os.Getpagesize() {
			b[i] = 1
		}
		chunks = append(chunks, b)
	}
	runtime.KeepAlive(chunks)
	runtime.GC() // chunks is garbage from here on
	t.Logf("load: grew the harness's heap by %.1f GiB in %v first (LOAD_WARM=0: not)", float64(bytes)/(1<<30), time.Since(start).Round(time.Millisecond))
}

// memAvailable is MemAvailable of /proc/meminfo, in bytes.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
