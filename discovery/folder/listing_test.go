package folder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
)

func serviceNames(s *discovery.Snapshot) []string {
	var out []string
	for _, svc := range s.Services {
		out = append(out, svc.Name)
	}
	return out
}

// A reader told what changed looks at those files only, and its snapshot
// is the one a full listing gives; what the names do not pin down (a
// directory, a symbolic link) is listed in full.
func TestListingLooksAgainOnlyAtWhatChanged(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": serviceYAML("a"), "b.yaml": serviceYAML("b"), "sub/c.yaml": serviceYAML("c")})
	r := newReader(dir, Options{})
	r.listing = newListing()
	steps := []struct {
		name   string
		change func()
		note   []string // nil: noteAll
		listed int
		want   []string
	}{
		{"first read", func() {}, nil, 3, []string{"a", "b", "c"}},
		{"one file replaced", func() { mustWrite(t, dir, "b.yaml", serviceYAML("b2")) }, []string{"b.yaml"}, 1, []string{"a", "b2", "c"}},
		{"one file added", func() { mustWrite(t, dir, "d.yaml", serviceYAML("d")) }, []string{"d.yaml"}, 1, []string{"a", "b2", "c", "d"}},
		{"one file removed", func() { mustRemove(t, dir, "a.yaml") }, []string{"a.yaml"}, 1, []string{"b2", "c", "d"}},
		{"a file in a subfolder", func() { mustWrite(t, dir, "sub/c.yaml", serviceYAML("c2")) }, []string{"sub/c.yaml"}, 1, []string{"b2", "c2", "d"}},
		{"a new subfolder", func() { mustWrite(t, dir, "new/e.yaml", serviceYAML("e")) }, nil, 4, []string{"b2", "c2", "d", "e"}},
		{"a noted name now a directory", func() { mustWrite(t, dir, "x.yaml/f.yaml", serviceYAML("f")) }, []string{"x.yaml"}, 5, []string{"b2", "c2", "d", "e", "f"}},
		{"nothing noted", func() {}, []string{}, 0, []string{"b2", "c2", "d", "e", "f"}},
	}
	for i, step := range steps {
		step.change()
		if step.note == nil {
			r.listing.noteAll()
		}
		for _, name := range step.note {
			r.listing.noteChanged(name)
		}
		snap, err := r.read(uint64(i+1), nil)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := serviceNames(snap); r.listed != step.listed || !slices.Equal(got, step.want) {
			t.Errorf("%s: looked at %d files, services %v; want %d files, %v", step.name, r.listed, got, step.listed, step.want)
		}
	}
}

// With a symbolic link in the folder (a mounted ConfigMap), every read
// lists it all: a change to what a link leads to is an event on the
// target's name, not the link's.
func TestListingWithALinkListsEverything(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": serviceYAML("a"), "target.yaml": serviceYAML("t")})
	if err := os.Symlink("target.yaml", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	r := newReader(dir, Options{})
	r.listing = newListing()
	if _, err := r.read(1, nil); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, dir, "target.yaml", serviceYAML("t2"))
	r.listing.noteChanged("target.yaml")
	snap, err := r.read(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// link.yaml and target.yaml hold the same Service now: one is kept,
	// the other reported as its duplicate.
	if got := serviceNames(snap); r.listed != 3 || !slices.Equal(got, []string{"a", "t2"}) {
		t.Errorf("looked at %d files, services %v; want 3 files, [a t2]", r.listed, got)
	}
}

func mustWrite(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written aside and renamed over, as editors do: a new inode, so the
	// stamp changes even within the file system's time resolution.
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
		t.Fatal(err)
	}
}
