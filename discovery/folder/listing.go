package folder

// Listing the folder again after a change.
//
// A Watcher knows from its events which files changed, so a reload lists
// only those again (one lstat each) instead of the whole folder: the cost
// of an edit follows the edit, not the size of the folder. On a busy
// machine a walk that stats a thousand files took 150 ms. Whatever the
// events do not pin down to named files is listed in full: a directory
// coming or going, a ConfigMap's "..data" swap, lost events (an overflow),
// the folder itself coming back, and any folder with a symbolic link in
// it (a change to a link's target is an event on the target's name, not
// the link's).

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/pilotlight/pilotlight/discovery"
)

// listing is the folder's config files as last listed, and what a reader
// was told changed since.
type listing struct {
	files    []listedFile
	problems []discovery.Problem // the walk's, with subfolders
	links    bool                // a listed file is a symbolic link
	// changed are the files to list again (slash-separated names); all:
	// list the whole folder.
	changed map[string]bool
	all     bool
}

func newListing() *listing { return &listing{changed: map[string]bool{}, all: true} }

// noteChanged says that the file name may have changed (been written,
// created, removed or renamed).
func (l *listing) noteChanged(name string) { l.changed[name] = true }

// noteAll says that anything in the folder may have changed.
func (l *listing) noteAll() { l.all = true }

// list returns the folder's config files in path order, the walk's
// problems, and how many files it looked at.
func (l *listing) list(root string, maxSize int64) ([]listedFile, []discovery.Problem, int, error) {
	if !l.all && !l.links {
		if files, ok := relist(root, l.files, l.changed, maxSize); ok {
			l.files = files
			n := len(l.changed)
			clear(l.changed)
			return files, slices.Clip(l.problems), n, nil
		}
	}
	files, problems, err := listFiles(root, maxSize)
	if err != nil {
		l.all = true
		return nil, nil, 0, err
	}
	l.files, l.problems, l.all = files, problems, false
	l.links = false
	for _, f := range files {
		if f.link {
			l.links = true
		}
	}
	clear(l.changed)
	return files, problems, len(files), nil
}

// relist is files with the changed names looked at again. It reports
// false when that is not enough: a name that is now a directory or a
// symbolic link, or one that cannot be looked at.
func relist(root string, files []listedFile, changed map[string]bool, maxSize int64) ([]listedFile, bool) {
	if len(changed) == 0 {
		return files, true
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, false
	}
	out := make([]listedFile, 0, len(files)+len(changed))
	for _, f := range files {
		if !changed[f.name] {
			out = append(out, f)
		}
	}
	for name := range changed {
		p := filepath.Join(realRoot, filepath.FromSlash(name))
		info, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // removed, or renamed away
		case err != nil || info.IsDir() || info.Mode()&fs.ModeSymlink != 0:
			return nil, false
		}
		out = append(out, statFile(realRoot, p, name, fs.FileInfoToDirEntry(info), maxSize))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, true
}
