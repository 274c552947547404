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

// debounce applies the newest snapshot once changes have been quiet for
// `quiet`, but no later than `maxWait` after the first change of a burst,
// so that a steady trickle of changes still gets pushed.
func debounce(ctx context.Context, box *mailbox, quiet, maxWait time.Duration, apply func(*discovery.Snapshot)) {
	var (
		quietTimer, maxTimer <-chan time.Time
		pending              *discovery.Snapshot
	)
	flush := func() {
		quietTimer, maxTimer = nil, nil
		if pending != nil {
			apply(pending)
			pending = nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-box.ready:
			pending = box.take()
			if quiet <= 0 {
				flush()
				continue
			}
			// A new change restarts the quiet period; the first change of a
			// burst starts the deadline.
			quietTimer = time.After(quiet)
			if maxTimer == nil {
				maxTimer = time.After(maxWait)
			}
		case <-quietTimer:
			flush()
		case <-maxTimer:
			flush()
		}
	}
}
