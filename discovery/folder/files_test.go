package folder

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
)

// problemAt returns the problem whose source is source, or fails.
func problemAt(t *testing.T, s *discovery.Snapshot, source string) discovery.Problem {
	t.Helper()
	for _, p := range s.Problems {
		if p.Source == source {
			return p
		}
	}
	t.Fatalf("no problem at %s; problems: %v", source, s.Problems)
	return discovery.Problem{}
}

// TestOnlyRegularFilesInTheFolderAreRead: a FIFO, a link to /dev/zero, a
// link out of the folder and a file over the size limit are reported and
// skipped, without blocking or reading them; the rest is served.
func TestOnlyRegularFilesInTheFolderAreRead(t *testing.T) {
	outside := writeFiles(t, map[string]string{"secret.yaml": serviceYAML("outside")})
	dir := writeFiles(t, map[string]string{
		"good.yaml":     serviceYAML("good"),
		"sub/svc.yaml":  serviceYAML("linked"),
		"big.yaml":      serviceYAML("big") + "# " + strings.Repeat("x", 2000) + "\n",
		"notes/a.txt":   "not config",
		"size-ok.yaml":  serviceYAML("small"),
		"lint/ok.json":  `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "json"}, "spec": {"ports": [{"port": 80}]}}`,
		"deep/x/y.yaml": serviceYAML("deep"),
	})
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"zero.yaml":    "/dev/zero",
		"outside.yaml": filepath.Join(outside, "secret.yaml"),
		"inside.yaml":  "sub/svc.yaml",
		"dangling.yml": "nowhere.yaml",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := newReader(dir, Options{MaxFileSize: 1000}).read(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range s.Services {
		names = append(names, svc.Name)
	}
	// "linked" is read twice, through sub/svc.yaml and inside.yaml: the
	// link is followed, and the second copy is a duplicate.
	if got, want := strings.Join(names, ","), "deep,good,json,linked,small"; got != want {
		t.Errorf("services %s, want %s", got, want)
	}
	for source, want := range map[string]string{
		"fifo.yaml":      "not a regular file (a named pipe)",
		"zero.yaml":      "out of the config folder (to /dev/zero)",
		"outside.yaml":   "out of the config folder",
		"dangling.yml":   "leads nowhere",
		"big.yaml":       "more than the limit of 1000",
		"sub/svc.yaml#0": "duplicate of inside.yaml#0",
	} {
		if p := problemAt(t, s, source); !strings.Contains(p.Reason, want) {
			t.Errorf("%s: %q, want it to contain %q", source, p.Reason, want)
		}
	}
	if len(s.Problems) != 6 {
		t.Errorf("problems %v, want the 6 above", s.Problems)
	}
}

// TestReadCapsTheSize: a file that grows past the limit after it was
// listed is not read beyond it.
func TestReadCapsTheSize(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": "x"})
	f := listedFile{name: "a.yaml", path: filepath.Join(dir, "a.yaml")}
	if err := os.WriteFile(f.path, []byte(strings.Repeat("y", 101)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readFile(f, 100); err == nil || !strings.Contains(err.Error(), "more than 100 bytes") {
		t.Errorf("readFile of 101 bytes with a limit of 100: %v", err)
	}
	if data, _, err := readFile(f, 101); err != nil || len(data) != 101 {
		t.Errorf("readFile of 101 bytes with a limit of 101: %d bytes, %v", len(data), err)
	}
}

// TestOnlyChangedFilesAreParsedAgain: a read after an edit parses the
// edited file only; a removed file's objects are gone.
func TestOnlyChangedFilesAreParsedAgain(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": serviceYAML("a"), "b.yaml": serviceYAML("b"), "c/d.yaml": serviceYAML("d")})
	r := newReader(dir, Options{})
	read := func(version uint64) *discovery.Snapshot {
		t.Helper()
		s, err := r.read(version, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := read(1); r.parsed != 3 || len(s.Services) != 3 {
		t.Fatalf("first read parsed %d files, served %d services; want 3 and 3", r.parsed, len(s.Services))
	}
	if read(2); r.parsed != 0 {
		t.Errorf("a read with nothing changed parsed %d files", r.parsed)
	}
	replaceFile(t, filepath.Join(dir, "b.yaml"), serviceYAML("b2"))
	if s := read(3); r.parsed != 1 || !hasService("b2")(s) || !hasService("a")(s) {
		t.Errorf("after editing b.yaml: parsed %d files, services %v", r.parsed, s.Services)
	}
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	if s := read(4); r.parsed != 0 || hasService("a")(s) || len(s.Services) != 2 {
		t.Errorf("after removing a.yaml: parsed %d files, services %v", r.parsed, s.Services)
	}
}

// TestReadyFilesOnly: a file that is not ready (written in place moments
// ago) keeps its previous parse, and a new one is not read yet.
func TestReadyFilesOnly(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": serviceYAML("a")})
	r := newReader(dir, Options{})
	if _, err := r.read(1, nil); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(dir, "a.yaml"), serviceYAML("half"))
	replaceFile(t, filepath.Join(dir, "b.yaml"), serviceYAML("b"))
	notReady := func(string) bool { return false }
	s, err := r.read(2, notReady)
	if err != nil {
		t.Fatal(err)
	}
	if !hasService("a")(s) || hasService("half")(s) || hasService("b")(s) {
		t.Errorf("services %v, want only a (the files being written are not read)", s.Services)
	}
	if s, _ = r.read(3, nil); !hasService("half")(s) || !hasService("b")(s) {
		t.Errorf("services %v once ready, want half and b", s.Services)
	}
}

// TestYAMLErrorsNameTheLineOfTheFile: a YAML error in the third document
// names the line in the file, not in the document.
func TestYAMLErrorsNameTheLineOfTheFile(t *testing.T) {
	s := mustLoad(t, map[string]string{"mesh.yaml": serviceYAML("a") + "---\n" + serviceYAML("b") + "---\n# comment\napiVersion: v1\nkind: Service\nmetadata: {name: c\n"})
	p := problemAt(t, s, "mesh.yaml#2")
	// The document starts on line 11 of the file; the unclosed mapping is
	// on its fourth line, the file's 14th.
	if !strings.Contains(p.Reason, "line 14:") {
		t.Errorf("problem %q, want line 14 (of the file)", p.Reason)
	}
}

// TestMissingFolder: the error names the folder.
func TestMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nonexistent")
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("Load(%s) = %v, want an error naming the folder", dir, err)
	}
}

// TestEmptyFolderWarns: no config file at all is a warning (a notice), not
// a problem.
func TestEmptyFolderWarns(t *testing.T) {
	s, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Problems) != 0 || len(s.Notices) != 1 || s.Notices[0].Level != discovery.LevelWarning {
		t.Errorf("problems %v, notices %v; want one warning", s.Problems, s.Notices)
	}
}
