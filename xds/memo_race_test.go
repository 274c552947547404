package xds

import (
	"sync"
	"testing"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// A proxy that connects as a change comes has its first view built on the
// memo the change replaces, outside the push; the change reads that memo's
// maps meanwhile (inherit). The old memo records nothing once a newer one
// reads it, so the two never touch a map at once (go test -race sees it;
// without -race, the runtime may stop on a concurrent map write).
func TestFirstViewsBuiltAsAChangeComesDoNotRaceIt(t *testing.T) {
	snap := discoverytest.SyntheticWithClients(20, 2, 40)
	ts := newTestServer(t, snap)
	var nodes []string
	for _, pod := range snap.Pods[:40] {
		nodes = append(nodes, proxyOf(pod).NodeID())
		ts.register(t, nodes[len(nodes)-1])
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			firstViewsUntil(t, ts, nodes[g*10:], stop)
		}()
	}
	for i := range 30 {
		next := discoverytest.SyntheticWithClients(20, 2, 40)
		next.Version = uint64(2 + i)
		next.VirtualServices[i%20].Spec.Http[0].Route[0].Weight = int32(50 + i%2)
		next.VirtualServices[i%20].Spec.Http[0].Route[1].Weight = int32(50 - i%2)
		if i%3 == 0 {
			next.Endpoints[next.Services[0].Key()][1].Ready = false
		}
		ts.apply(next)
	}
	close(stop)
	wg.Wait()
}

func firstViewsUntil(t *testing.T, ts *testServer, nodes []string, stop chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if _, err := ts.firstView(nodes[i%len(nodes)]); err != nil {
			t.Error(err)
			return
		}
	}
}
