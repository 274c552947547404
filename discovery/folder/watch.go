package folder

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/pilotlight/pilotlight/discovery"
)

// DefaultSettle is how long a folder must stay quiet before it is reloaded.
// Editors save in several steps (write a temporary file, rename it, change
// its mode); reloading after each step would publish half-written config.
const DefaultSettle = 30 * time.Millisecond

// Watcher serves a folder as a stream of snapshots: one when it starts, then
// a new one after every change to the folder.
type Watcher struct {
	Dir     string
	Log     *slog.Logger // nil means slog.Default()
	Publish func(*discovery.Snapshot)
	// Settle is the quiet time before a reload; zero means DefaultSettle.
	Settle time.Duration
	// RootNamespace is Istio's meshConfig.rootNamespace; "" means
	// discovery.DefaultRootNamespace.
	RootNamespace string

	version uint64 // of the last published snapshot
	fs      *fsnotify.Watcher
	watched map[string]bool // directories being watched
}

// Watch publishes the snapshot of dir, then a new one after each change,
// until ctx is done. See Watcher.Run.
func Watch(ctx context.Context, dir string, log *slog.Logger, publish func(*discovery.Snapshot)) error {
	w := &Watcher{Dir: dir, Log: log, Publish: publish}
	return w.Run(ctx)
}

// Run watches the folder until ctx is done, then returns nil. It returns an
// error only when the folder cannot be watched or loaded at the start.
//
// The first snapshot is published only once every directory is watched, so
// that a change made after the first Publish is never missed. Tests rely on
// this: wait for the first snapshot, change a file, then poll for the next.
func (w *Watcher) Run(ctx context.Context) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fsw.Close()
	w.fs, w.watched = fsw, map[string]bool{}
	if err := w.watchTree(w.Dir); err != nil {
		return err
	}
	if err := w.reload(); err != nil {
		return err
	}

	settle := time.NewTimer(0)
	settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fsw.Events:
			if !ok {
				return nil
			}
			if w.relevant(ev) {
				w.follow(ev)
				settle.Reset(w.settle()) // every new event restarts the wait
			}
		case err, ok := <-fsw.Errors:
			if !ok {
				return nil
			}
			// Usually an overflow of the kernel's event queue: events were
			// lost, so reload to be sure.
			w.log().Warn("watching config folder", "dir", w.Dir, "err", err)
			settle.Reset(w.settle())
		case <-settle.C:
			if err := w.reload(); err != nil {
				// The folder itself is gone or unreadable: keep serving the
				// last good snapshot rather than an empty mesh.
				w.log().Error("reloading config folder", "dir", w.Dir, "err", err)
			}
		}
	}
}

// reload loads the folder and publishes the result with the next version.
func (w *Watcher) reload() error {
	snap, err := load(os.DirFS(w.Dir), w.version+1, w.RootNamespace)
	if err != nil {
		return err
	}
	w.version++
	for _, p := range snap.Problems {
		w.log().Warn("skipped invalid config", "source", p.Source, "kind", p.Kind, "name", p.Name, "field", p.Field, "reason", p.Reason)
	}
	w.Publish(snap)
	return nil
}

// watchTree watches dir and every directory below it that Load would read
// (inotify, and so fsnotify, watches one directory, not a tree). It walks
// like Load does, so a symlinked dir is followed at the top only.
func (w *Watcher) watchTree(dir string) error {
	return fs.WalkDir(os.DirFS(dir), ".", func(rel string, d fs.DirEntry, err error) error {
		switch {
		case err != nil && rel == ".":
			return err
		case err != nil:
			return nil // Load reports it as a Problem
		case !d.IsDir():
			return nil
		case rel != "." && isHidden(rel):
			return fs.SkipDir
		}
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := w.fs.Add(path); err != nil {
			if rel == "." {
				return err
			}
			w.log().Warn("watching config folder", "dir", path, "err", err)
			return nil
		}
		w.watched[path] = true
		return nil
	})
}

// relevant reports whether an event may change what Load returns.
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
		if err := w.watchTree(ev.Name); err != nil {
			w.log().Warn("watching config folder", "dir", ev.Name, "err", err)
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		for dir := range w.watched {
			if dir == ev.Name || strings.HasPrefix(dir, ev.Name+string(filepath.Separator)) {
				// A removed directory's watch is already gone; a renamed one
				// would report events from outside the tree.
				if err := w.fs.Remove(dir); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
					w.log().Debug("unwatching", "dir", dir, "err", err)
				}
				delete(w.watched, dir)
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

func (w *Watcher) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}
