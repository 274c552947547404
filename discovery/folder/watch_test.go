package folder

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
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
	p, _ := startWatcherWith(t, &Watcher{Dir: dir})
	return p
}

// startWatcherWith runs w (its Dir and settings) like startWatcher.
func startWatcherWith(t *testing.T, w *Watcher) (*published, *Watcher) {
	t.Helper()
	var p published
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	w.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	w.Publish = p.add
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
	})
	p.waitFor(t, "version 1", func(s *discovery.Snapshot) bool { return s.Version == 1 })
	return &p, w
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

// eventuallyHealth polls the watcher's health until ok says it is as wanted.
func eventuallyHealth(t *testing.T, w *Watcher, what string, ok func(error) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ok(w.Health()) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for the watcher to be %s; health: %v", what, w.Health())
}

func healthy(err error) bool   { return err == nil }
func unhealthy(err error) bool { return err != nil }

// TestWatchSurvivesTheFolderGoingAway: after rm -rf and mkdir, and after a
// mv away and back, edits are read again; while the folder is gone the
// watcher says so and the last snapshot stays.
func TestWatchSurvivesTheFolderGoingAway(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "mesh")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(dir, "a.yaml"), serviceYAML("a"))
	p, w := startWatcherWith(t, &Watcher{Dir: dir})
	if !hasService("a")(p.all()[0]) {
		t.Fatal("first snapshot without service a")
	}

	// rm -rf and recreate.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	eventuallyHealth(t, w, "unhealthy after rm -rf", unhealthy)
	// Recreated whole: made aside, then moved into place.
	fresh := filepath.Join(parent, "mesh.new")
	if err := os.Mkdir(fresh, 0o755); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(fresh, "b.yaml"), serviceYAML("b"))
	if err := os.Rename(fresh, dir); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "service b in the recreated folder", hasService("b"))
	eventuallyHealth(t, w, "healthy after the folder is back", healthy)
	replaceFile(t, filepath.Join(dir, "c.yaml"), serviceYAML("c"))
	p.waitFor(t, "service c, a later edit", hasService("c"))

	// mv away: edits in the moved folder are not the config folder's.
	away := filepath.Join(parent, "away")
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	eventuallyHealth(t, w, "unhealthy after mv away", unhealthy)
	last := p.all()[len(p.all())-1]
	if !hasService("c")(last) {
		t.Errorf("after mv away the last snapshot lost service c: %v", last.Services)
	}
	replaceFile(t, filepath.Join(away, "d.yaml"), serviceYAML("d"))
	// ... and back.
	if err := os.Rename(away, dir); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "service d after mv back", hasService("d"))
	eventuallyHealth(t, w, "healthy after mv back", healthy)
	replaceFile(t, filepath.Join(dir, "e.yaml"), serviceYAML("e"))
	p.waitFor(t, "service e, a later edit", hasService("e"))
	for _, s := range p.all() {
		if len(s.Services) == 0 {
			t.Errorf("snapshot %d is empty: a folder that is gone is never published", s.Version)
		}
	}

	// rm -rf, mkdir, then files written into it one by one.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	eventuallyHealth(t, w, "unhealthy after the second rm -rf", unhealthy)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(dir, "f.yaml"), serviceYAML("f"))
	p.waitFor(t, "service f in the folder made again", hasService("f"))
	replaceFile(t, filepath.Join(dir, "g.yaml"), serviceYAML("g"))
	p.waitFor(t, "service g, a later edit", hasService("g"))
}

// TestWatchSkipsFIFOs: a named pipe in the folder neither blocks the
// watcher nor stops later edits, before or after it is removed.
func TestWatchSkipsFIFOs(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": serviceYAML("a")})
	p := startWatcher(t, dir)
	fifo := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(dir, "b.yaml"), serviceYAML("b"))
	p.waitFor(t, "service b, and the FIFO reported", func(s *discovery.Snapshot) bool {
		return hasService("b")(s) && len(s.Problems) == 1 && s.Problems[0].Source == "pipe.yaml"
	})
	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(dir, "c.yaml"), serviceYAML("c"))
	p.waitFor(t, "service c, and no problem", func(s *discovery.Snapshot) bool { return hasService("c")(s) && len(s.Problems) == 0 })
}

// TestWatchWaitsForFilesWrittenInPlace: a file being written in place is
// not read while writes keep coming; another file renamed in meanwhile is.
func TestWatchWaitsForFilesWrittenInPlace(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": serviceYAML("a")})
	p, _ := startWatcherWith(t, &Watcher{Dir: dir, WriteSettle: time.Hour})
	f, err := os.OpenFile(filepath.Join(dir, "a.yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	half := serviceYAML("rewritten")
	if _, err := f.WriteString(half[:len(half)/2]); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(dir, "b.yaml"), serviceYAML("b"))
	s := p.waitFor(t, "service b", hasService("b"))
	if !hasService("a")(s) || len(s.Problems) != 0 {
		t.Errorf("the half-written a.yaml was read: services %v, problems %v", s.Services, s.Problems)
	}
}

// TestWatchReadsFilesWrittenInPlaceOnceSettled: the same, with a short
// WriteSettle: the finished file is read.
func TestWatchReadsFilesWrittenInPlaceOnceSettled(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": serviceYAML("a")})
	p, _ := startWatcherWith(t, &Watcher{Dir: dir, WriteSettle: 50 * time.Millisecond})
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(serviceYAML("rewritten")), 0o644); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "service rewritten", hasService("rewritten"))
}

func TestWatcherReadyAfterWriteSettle(t *testing.T) {
	w := &Watcher{WriteSettle: time.Minute, written: map[string]time.Time{}}
	w.written["a.yaml"] = time.Now()
	w.written["b.yaml"] = time.Now().Add(-2 * time.Minute)
	if w.ready("a.yaml") || !w.ready("b.yaml") || !w.ready("c.yaml") {
		t.Errorf("ready: a %v, b %v, c %v; want false, true, true", w.ready("a.yaml"), w.ready("b.yaml"), w.ready("c.yaml"))
	}
	if _, waiting := w.written["b.yaml"]; waiting {
		t.Error("b.yaml, read, is still waiting")
	}
}

// A mounted ConfigMap changes by swapping its "..data" link to a new
// folder of files; the visible files are links through it and see no
// event of their own.
func TestWatchSeesAConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, service string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "svc.yaml"), []byte(serviceYAML(service)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	version("..2025_01_01", "first")
	if err := os.Symlink("..2025_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "svc.yaml"), filepath.Join(dir, "svc.yaml")); err != nil {
		t.Fatal(err)
	}
	p := startWatcher(t, dir)
	p.waitFor(t, "service first", hasService("first"))

	version("..2025_01_02", "second")
	if err := os.Symlink("..2025_01_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "service second", hasService("second"))
}
