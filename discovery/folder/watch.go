package folder

// Watching the folder.
//
// inotify (and so fsnotify) watches directories, not trees, and a watch
// follows an inode, not a path: after `rm -rf dir && mkdir dir`, or
// `mv dir away && mv away dir`, the old watches see nothing. So the watcher
// also watches the folder's parent, for the folder itself going and coming
// back, and while the folder is gone or cannot be watched it says so
// (Health, which serve puts in /readyz and a metric), keeps serving the
// last snapshot, and polls until it can watch again.
//
// Editing safely: write the new content to a temporary file and rename it
// over the old one (what most editors, `kubectl`-style tools and `sed -i`
// do). A rename is atomic: the watcher reads the file at once (after
// Settle). A file written in place is read only once no write to it has
// been seen for WriteSettle (half a second by default), so that a slow
// writer is not read half-way; a writer that pauses longer than that
// mid-file can still be read half-written, which is why renames are the
// safe way.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/pilotlight/pilotlight/discovery"
)

const (
	// DefaultSettle is how long a folder must stay quiet before it is
	// reloaded. Editors save in several steps (write a temporary file,
	// rename it, change its mode); one reload should see them all.
	DefaultSettle = 30 * time.Millisecond
	// DefaultWriteSettle is how long a file written in place must go
	// without a write before it is read.
	DefaultWriteSettle = 500 * time.Millisecond
	// maxSettleWait bounds the wait for quiet: a folder that never stops
	// changing is still reloaded this often.
	maxSettleWait = time.Second
	// pollInterval is how often a folder that cannot be watched is read.
	pollInterval = time.Second
)

// Watcher serves a folder as a stream of snapshots: one when it starts, then
// a new one after every change to the folder.
type Watcher struct {
	Dir     string
	Log     *slog.Logger // nil means slog.Default()
	Publish func(*discovery.Snapshot)
	// Settle is the quiet time before a reload; zero means DefaultSettle.
	Settle time.Duration
	// WriteSettle is how long a file written in place must go unwritten
	// before it is read; zero means DefaultWriteSettle.
	WriteSettle time.Duration
	Options     Options
	// RootNamespace is Istio's meshConfig.rootNamespace; "" means
	// Options.RootNamespace, else discovery.DefaultRootNamespace.
	RootNamespace string

	version uint64 // of the last published snapshot
	reader  *reader
	fs      *fsnotify.Watcher
	abs     string          // Dir, absolute
	watched map[string]bool // directories being watched
	written map[string]time.Time
	pending time.Time // when the first change not yet reloaded was seen

	mu     sync.Mutex
	health error // nil while the folder is watched
}

// Watch publishes the snapshot of dir, then a new one after each change,
// until ctx is done. See Watcher.Run.
func Watch(ctx context.Context, dir string, log *slog.Logger, publish func(*discovery.Snapshot)) error {
	w := &Watcher{Dir: dir, Log: log, Publish: publish}
	return w.Run(ctx)
}

// Health returns nil while the folder is watched, else why it is not (the
// last snapshot is then still served, and the folder polled).
func (w *Watcher) Health() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.health
}

func (w *Watcher) setHealth(err error) {
	w.mu.Lock()
	changed := (w.health == nil) != (err == nil)
	w.health = err
	w.mu.Unlock()
	switch {
	case changed && err != nil:
		w.log().Error("config folder is not watched; serving the last snapshot until it is back", "dir", w.Dir, "err", err)
	case changed:
		w.log().Info("config folder is watched again", "dir", w.Dir)
	}
}

// Run watches the folder until ctx is done, then returns nil. It returns an
// error only when the folder cannot be read at the start.
//
// The first snapshot is published only once every directory is watched, so
// that a change made after the first Publish is never missed. Tests rely on
// this: wait for the first snapshot, change a file, then poll for the next.
func (w *Watcher) Run(ctx context.Context) error {
	if err := checkFolder(w.Dir); err != nil {
		return err
	}
	abs, err := filepath.Abs(w.Dir)
	if err != nil {
		return err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fsw.Close()
	opts := w.Options
	if w.RootNamespace != "" {
		opts.RootNamespace = w.RootNamespace
	}
	w.fs, w.abs, w.reader = fsw, abs, newReader(w.Dir, opts)
	w.reader.listing = newListing() // told of each change below
	w.watched, w.written = map[string]bool{}, map[string]time.Time{}
	// The parent sees the folder itself removed, moved or created.
	if err := fsw.Add(filepath.Dir(abs)); err != nil {
		w.log().Warn("cannot watch the config folder's parent; a removed folder will be noticed by polling", "dir", filepath.Dir(abs), "err", err)
	}
	w.setHealth(w.watchTree())
	if err := w.reload(); err != nil {
		return err
	}
	return w.loop(ctx)
}

func (w *Watcher) loop(ctx context.Context) error {
	settle := time.NewTimer(0)
	settle.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fs.Events:
			if !ok {
				return nil
			}
			if w.handle(ev) {
				settle.Reset(w.wait())
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return nil
			}
			// Usually an overflow of the kernel's event queue: events were
			// lost, so reload to be sure.
			w.log().Warn("watching config folder", "dir", w.Dir, "err", err)
			w.reader.listing.noteAll()
			settle.Reset(w.wait())
		case <-poll.C:
			if w.Health() != nil {
				w.recover()
			}
		case <-settle.C:
			w.pending = time.Time{}
			if err := w.reload(); err != nil {
				// The folder itself is gone or unreadable: keep serving the
				// last good snapshot rather than an empty mesh.
				w.setHealth(err)
				continue
			}
			if next, ok := w.nextWritten(); ok {
				settle.Reset(next)
			}
		}
	}
}

// recover tries to watch and read the folder again.
func (w *Watcher) recover() {
	if err := checkFolder(w.Dir); err != nil {
		w.setHealth(err)
		return
	}
	err := w.watchTree()
	w.reader.listing.noteAll()
	if rerr := w.reload(); rerr != nil {
		err = rerr
	}
	w.setHealth(err)
}

// handle reacts to one event and reports whether a reload is due.
func (w *Watcher) handle(ev fsnotify.Event) bool {
	if ev.Name == w.abs {
		return w.handleFolder(ev)
	}
	if filepath.Dir(ev.Name) == filepath.Dir(w.abs) && !w.watched[filepath.Dir(ev.Name)] {
		return false // a sibling of the folder, seen through the parent's watch
	}
	if !w.relevant(ev) {
		return false
	}
	w.follow(ev)
	w.note(ev)
	if ev.Has(fsnotify.Write) {
		w.written[relName(w.abs, ev.Name)] = time.Now()
	}
	return true
}

// note tells the reader what an event may have changed: the one config
// file it names, or anything (a directory, a ConfigMap's "..data").
func (w *Watcher) note(ev fsnotify.Event) {
	base := filepath.Base(ev.Name)
	if isConfigFile(base) && !isHidden(base) {
		w.reader.listing.noteChanged(relName(w.abs, ev.Name))
		return
	}
	w.reader.listing.noteAll()
}

// handleFolder reacts to the folder itself being removed, moved or created.
// A folder that is back is watched at once and read after the usual quiet
// time, so that files copied in right after a mkdir are read with it.
func (w *Watcher) handleFolder(ev fsnotify.Event) bool {
	switch {
	case ev.Has(fsnotify.Create):
		if err := checkFolder(w.Dir); err != nil {
			w.setHealth(err)
			return false
		}
		w.setHealth(w.watchTree())
		w.reader.listing.noteAll()
		return true
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		w.unwatchAll()
		w.setHealth(fmt.Errorf("config folder %s was removed or moved away", w.Dir))
	}
	return false
}

// wait is how long to wait for quiet before the next reload.
func (w *Watcher) wait() time.Duration {
	now := time.Now()
	if w.pending.IsZero() {
		w.pending = now
	}
	if left := w.pending.Add(maxSettleWait).Sub(now); left < w.settle() {
		return max(left, 0)
	}
	return w.settle()
}

// nextWritten is how long until the next file written in place settles,
// when one is waiting.
func (w *Watcher) nextWritten() (time.Duration, bool) {
	var next time.Duration
	found := false
	for _, at := range w.written {
		d := time.Until(at.Add(w.writeSettle()))
		if !found || d < next {
			next, found = max(d, 0), true
		}
	}
	return next, found
}

// ready reports whether a file may be read: it was not written in place
// less than WriteSettle ago. A file found ready is read now, so it is
// forgotten.
func (w *Watcher) ready(name string) bool {
	at, ok := w.written[name]
	if !ok {
		return true
	}
	if time.Since(at) < w.writeSettle() {
		return false
	}
	delete(w.written, name)
	return true
}

// reload reads the folder and publishes the result with the next version.
func (w *Watcher) reload() error {
	for name := range w.written {
		w.reader.listing.noteChanged(name) // not read yet: still being written
	}
	snap, err := w.reader.read(w.version+1, w.ready)
	if err != nil {
		return err
	}
	w.version++
	for _, p := range snap.Problems {
		msg := "skipped invalid config"
		if p.Level == discovery.LevelWarning {
			msg = "config served without a field pilotlight does not implement"
		}
		w.log().Warn(msg, "source", p.Source, "kind", p.Kind, "name", p.Name, "field", p.Field, "reason", p.Reason)
	}
	for _, n := range snap.Notices {
		level := slog.LevelInfo
		if n.Level == discovery.LevelWarning {
			level = slog.LevelWarn
		}
		w.log().Log(context.Background(), level, "config folder", "dir", w.Dir, "kind", n.Kind, "reason", n.Reason)
	}
	w.Publish(snap)
	return nil
}

// watchTree watches the folder and every directory below it that the
// reader reads (inotify watches one directory, not a tree). It returns why
// the folder is not fully watched, if it is not.
func (w *Watcher) watchTree() error {
	return w.watchDir(w.abs)
}

func (w *Watcher) watchDir(dir string) error {
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil && p == dir:
			return err
		case err != nil:
			return nil // the reader reports it as a Problem
		case !d.IsDir():
			return nil
		case p != w.abs && isHidden(d.Name()):
			return filepath.SkipDir
		}
		if w.watched[p] {
			return nil
		}
		if err := w.fs.Add(p); err != nil {
			errs = append(errs, fmt.Errorf("watching %s: %w", p, err))
			return nil
		}
		w.watched[p] = true
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// unwatchAll drops every watch in the tree: after the folder moved away,
// they would report events from wherever it went.
func (w *Watcher) unwatchAll() {
	for dir := range w.watched {
		w.unwatch(dir)
	}
}

func (w *Watcher) unwatch(dir string) {
	if err := w.fs.Remove(dir); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
		w.log().Debug("unwatching", "dir", dir, "err", err)
	}
	delete(w.watched, dir)
}

// relevant reports whether an event may change what the reader returns.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	base := filepath.Base(ev.Name)
	switch {
	case ev.Op == fsnotify.Chmod:
		return false // a mode change alone changes no content
	case strings.HasPrefix(base, ".."):
		// A mounted ConfigMap swaps all its files at once by replacing its
		// "..data" symlink; the visible files are links through it.
		return true
	case isHidden(base):
		return false // editors' swap files
	case isConfigFile(base):
		return true
	}
	// Otherwise only a directory matters, appearing or going away.
	return w.watched[ev.Name] || isDir(ev.Name)
}

// follow keeps the set of watched directories in step with the tree.
func (w *Watcher) follow(ev fsnotify.Event) {
	switch {
	case ev.Has(fsnotify.Create) && isDir(ev.Name) && !isHidden(filepath.Base(ev.Name)):
		// Files may already be in it (a directory moved in, or written
		// before the watch was added); the reload that follows reads them.
		if err := w.watchDir(ev.Name); err != nil {
			w.log().Warn("watching config folder", "dir", ev.Name, "err", err)
			w.setHealth(err)
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		for dir := range w.watched {
			if dir == ev.Name || strings.HasPrefix(dir, ev.Name+string(filepath.Separator)) {
				// A removed directory's watch is already gone; a renamed one
				// would report events from outside the tree.
				w.unwatch(dir)
			}
		}
	}
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

func (w *Watcher) settle() time.Duration {
	if w.Settle > 0 {
		return w.Settle
	}
	return DefaultSettle
}

func (w *Watcher) writeSettle() time.Duration {
	if w.WriteSettle > 0 {
		return w.WriteSettle
	}
	return DefaultWriteSettle
}

func (w *Watcher) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}
