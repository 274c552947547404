package xds

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/discovery"
)

// fakeTimers hands out timer channels the test fires, and a clock it moves.
type fakeTimers struct {
	mu     sync.Mutex
	timers []chan time.Time
	clock  time.Time
	nows   int // calls of now
}

func (f *fakeTimers) after(time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	f.timers = append(f.timers, c)
	return c
}

func (f *fakeTimers) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nows++
	return f.clock
}

func (f *fakeTimers) nowCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nows
}

func (f *fakeTimers) advance(d time.Duration) {
	f.mu.Lock()
	f.clock = f.clock.Add(d)
	f.mu.Unlock()
}

// fireAll fires every timer handed out so far.
func (f *fakeTimers) fireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.timers {
		select {
		case c <- f.clock:
		default:
		}
	}
	f.timers = nil
}

func (f *fakeTimers) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// An endpoint-only change that comes when nothing is pending is applied at
// once; one that comes during a burst (or right after an applied change)
// waits for the burst, and is applied with it.
func TestDebounceAppliesALoneEndpointChangeAtOnce(t *testing.T) {
	ft := &fakeTimers{clock: time.Unix(1000, 0)}
	// Each apply with the calls of now so far: the debouncer notes the end
	// of a burst (now) after apply returns, and the test must not move the
	// clock before that.
	type appliedAt struct {
		version uint64
		nows    int
	}
	applied := make(chan appliedAt, 10)
	urgent := map[uint64]bool{1: true, 2: true, 4: true}
	d := &debouncer{quiet: time.Second, maxWait: 10 * time.Second, after: ft.after, now: ft.now,
		apply:  func(s *discovery.Snapshot) { applied <- appliedAt{s.Version, ft.nowCalls()} },
		urgent: func(s *discovery.Snapshot) bool { return urgent[s.Version] }}
	box := newMailbox()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.run(ctx, box)

	next := func(what string) uint64 {
		t.Helper()
		select {
		case a := <-applied:
			waitFor(t, "the end of the push to be noted", func() bool { return ft.nowCalls() > a.nows })
			return a.version
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing applied", what)
			return 0
		}
	}
	box.put(&discovery.Snapshot{Version: 1})
	if v := next("a lone endpoint change"); v != 1 {
		t.Fatalf("applied %d, want 1", v)
	}
	// Right after: version 2 is urgent too, but within the quiet period of
	// the last change; version 3 is not urgent. Both wait, and the newest
	// is applied when the quiet period ends.
	box.put(&discovery.Snapshot{Version: 2})
	waitFor(t, "the quiet timer of version 2", func() bool { return ft.count() == 2 })
	box.put(&discovery.Snapshot{Version: 3})
	waitFor(t, "the quiet timer of version 3", func() bool { return ft.count() == 3 })
	ft.advance(2 * time.Second)
	ft.fireAll()
	if v := next("the burst"); v != 3 {
		t.Fatalf("applied %d, want the burst's newest, 3", v)
	}
	// Calm again: an urgent change goes at once; a config change waits.
	ft.advance(2 * time.Second)
	box.put(&discovery.Snapshot{Version: 4})
	if v := next("an endpoint change after the calm"); v != 4 {
		t.Fatalf("applied %d, want 4", v)
	}
	ft.advance(2 * time.Second)
	box.put(&discovery.Snapshot{Version: 5})
	waitFor(t, "the quiet timer of version 5", func() bool { return ft.count() == 2 })
	select {
	case a := <-applied:
		t.Fatalf("config change %d applied before its quiet period", a.version)
	default:
	}
	ft.fireAll()
	if v := next("the config change"); v != 5 {
		t.Fatalf("applied %d, want 5", v)
	}
}
