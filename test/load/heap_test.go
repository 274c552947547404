package load

import "testing"

// The heap grown before a cold sync follows the services a sidecar
// reaches, and never takes most of the machine's memory.
func TestHeapForFollowsWhatASidecarReaches(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Point
		want int64
	}{
		{"every service", Point{Mesh: Mesh{Services: 200, Namespaces: 10}, Proxies: 10}, 10 * 200 * bytesPerService},
		{"scoped to a namespace", Point{Mesh: Mesh{Services: 200, Namespaces: 10, Scoped: true}, Proxies: 10}, 10 * 20 * bytesPerService},
		{"scoped, a namespace with more", Point{Mesh: Mesh{Services: 25, Namespaces: 10, Scoped: true}, Proxies: 10}, 10 * 3 * bytesPerService},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := heapFor(tc.p); got != min(tc.want, memAvailable()*6/10) {
				t.Errorf("heapFor = %d, want %d", got, tc.want)
			}
		})
	}
	if avail := memAvailable(); avail <= 0 {
		t.Fatalf("MemAvailable read as %d", avail)
	} else if huge := heapFor(Point{Mesh: Mesh{Services: 1 << 20}, Proxies: 1 << 20}); huge > avail*65/100 { // 60 %, give or take what changed since
		t.Errorf("heapFor of a huge point = %d, more than 60%% of the %d bytes available", huge, avail)
	}
}
