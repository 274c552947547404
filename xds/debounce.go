package xds

import (
	"context"
	"sync"
	"time"

	"github.com/pilotlight/pilotlight/discovery"
)

// mailbox holds the newest snapshot not yet applied. Discovery never waits
// on it: a newer snapshot simply replaces an older one.
type mailbox struct {
	mu     sync.Mutex
	latest *discovery.Snapshot
	ready  chan struct{} // has one token while latest is unread
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

func (m *mailbox) put(s *discovery.Snapshot) {
	m.mu.Lock()
	m.latest = s
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

func (m *mailbox) take() *discovery.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.latest
	m.latest = nil
	return s
}

// debouncer applies the newest snapshot once changes have been quiet for
// `quiet`, but no later than `maxWait` after the first change of a burst,
// so that a steady trickle of changes still gets pushed. A change that
// comes while no burst is under way and that urgent accepts (an
// endpoint-only change, which costs little now) is applied at once: the
// first pod of a rollout turning ready is not held back by the quiet
// period, and what follows it within that period is batched as before.
type debouncer struct {
	quiet, maxWait time.Duration
	apply          func(*discovery.Snapshot)
	urgent         func(*discovery.Snapshot) bool // nil: none is
	// after and now are time.After and time.Now (tests replace them).
	after func(time.Duration) <-chan time.Time
	now   func() time.Time
}

func debounce(ctx context.Context, box *mailbox, quiet, maxWait time.Duration, apply func(*discovery.Snapshot), urgent func(*discovery.Snapshot) bool) {
	d := &debouncer{quiet: quiet, maxWait: maxWait, apply: apply, urgent: urgent, after: time.After, now: time.Now}
	d.run(ctx, box)
}

func (d *debouncer) run(ctx context.Context, box *mailbox) {
	var (
		quietTimer, maxTimer <-chan time.Time
		pending              *discovery.Snapshot
		// calm: when the last burst ended (or the last urgent change was
		// applied); a change within quiet of it starts a burst.
		calm time.Time
	)
	flush := func() {
		quietTimer, maxTimer = nil, nil
		if pending != nil {
			d.apply(pending)
			pending = nil
		}
		calm = d.now()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-box.ready:
			pending = box.take()
			if d.quiet <= 0 {
				flush()
				continue
			}
			if quietTimer == nil && d.now().Sub(calm) >= d.quiet && d.urgent != nil && d.urgent(pending) {
				flush()
				continue
			}
			// A new change restarts the quiet period; the first change of a
			// burst starts the deadline.
			quietTimer = d.after(d.quiet)
			if maxTimer == nil {
				maxTimer = d.after(d.maxWait)
			}
		case <-quietTimer:
			flush()
		case <-maxTimer:
			flush()
		}
	}
}
