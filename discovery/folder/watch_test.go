package folder

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/discovery"
)

// published records what a Watcher publishes, for tests to poll.
type published struct {
	mu    sync.Mutex
	snaps []*discovery.Snapshot
}

func (p *published) add(s *discovery.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snaps = append(p.snaps, s)
}

func (p *published) all() []*discovery.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*discovery.Snapshot(nil), p.snaps...)
}

// waitFor polls until the latest published snapshot satisfies ok, and
// returns it. It waits for events, never for a fixed time.
func (p *published) waitFor(t *testing.T, what string, ok func(*discovery.Snapshot) bool) *discovery.Snapshot {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if snaps := p.all(); len(snaps) > 0 && ok(snaps[len(snaps)-1]) {
			return snaps[len(snaps)-1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for a snapshot with %s", what)
	return nil
}

// startWatcher runs a Watcher on dir until the test ends, and waits for its
// first snapshot: from then on every change is seen.
func startWatcher(t *testing.T, dir string) *published {
	t.Helper()
	var p published
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- Watch(ctx, dir, log, p.add) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
	})
	p.waitFor(t, "version 1", func(s *discovery.Snapshot) bool { return s.Version == 1 })
	return &p
}

func hasService(name string) func(*discovery.Snapshot) bool {
	return func(s *discovery.Snapshot) bool {
		for _, svc := range s.Services {
			if svc.Name == name {
				return true
			}
		}
		return false
	}
}

func not(f func(*discovery.Snapshot) bool) func(*discovery.Snapshot) bool {
	return func(s *discovery.Snapshot) bool { return !f(s) }
}

func serviceYAML(name string) string {
	return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec: {ports: [{port: 80}]}\n"
}

func TestWatchPublishesChanges(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": serviceYAML("a")})
	p := startWatcher(t, dir)

	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	write("b.yaml", serviceYAML("b"))
	p.waitFor(t, "service b", hasService("b"))

	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "service a removed", not(hasService("a")))

	// A directory created after the start is watched too: the file written
	// into it right away is in the next snapshot, and later changes are seen.
	write("new/c.yaml", serviceYAML("c"))
	p.waitFor(t, "service c", hasService("c"))
	write("new/d.yaml", serviceYAML("d"))
	p.waitFor(t, "service d", hasService("d"))

	write("new/e.yaml", "kind: Nonsense\n")
	p.waitFor(t, "a problem in new/e.yaml", func(s *discovery.Snapshot) bool {
		return len(s.Problems) == 1 && s.Problems[0].Source == "new/e.yaml#0"
	})

	snaps := p.all()
	for i, s := range snaps {
		if s.Version != uint64(i+1) {
			t.Errorf("snapshot %d has version %d, want %d", i, s.Version, i+1)
		}
	}
}

func TestWatchFailsWithoutFolder(t *testing.T) {
	err := Watch(context.Background(), filepath.Join(t.TempDir(), "missing"), nil, func(*discovery.Snapshot) {
		t.Error("published a snapshot of a missing folder")
	})
	if err == nil {
		t.Error("Watch of a missing folder returned nil")
	}
}

func TestWatchReturnsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Watch(ctx, t.TempDir(), nil, func(*discovery.Snapshot) {}); err != nil {
		t.Errorf("Watch = %v, want nil", err)
	}
}
