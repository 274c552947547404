package folder

// Which files of the folder are read, and how.
//
// A config folder is input like any other: a file in it may be huge, may
// never end (a FIFO, a link to /dev/zero), or may point anywhere on the
// machine. So:
//   - only regular files are read; a FIFO, socket or device with a config
//     file's name is reported and skipped, and is opened by no one;
//   - a file larger than Options.MaxFileSize (10 MiB by default) is reported
//     and skipped, and no read takes more than that many bytes;
//   - a symbolic link is followed only when it leads to a regular file
//     inside the folder. Links within the folder are how a Kubernetes
//     ConfigMap volume presents its files (svc.yaml -> ..data/svc.yaml), and
//     they are followed; a link out of the folder is reported and never
//     read, so that pointing pilotlight at a folder cannot make it read
//     (and report, in /debug/problems) files elsewhere on the machine.
//     The folder itself may be a link.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pilotlight/pilotlight/discovery"
)

// DefaultMaxFileSize is the largest config file read unless
// Options.MaxFileSize says otherwise.
const DefaultMaxFileSize = 10 << 20

// stamp identifies one version of a file's content as cheaply as a stat
// can: a file whose stamp is unchanged is not read again.
type stamp struct {
	size    int64
	modTime time.Time
	inode   uint64
	device  uint64
}

// listedFile is a config file found in the folder.
type listedFile struct {
	name  string // slash-separated, relative to the folder
	path  string // to open: the file, or where its link leads
	stamp stamp
	// problem is why the file cannot be read (not regular, too large, a
	// link out of the folder); the file is then not opened at all.
	problem *discovery.Problem
	link    bool // the name is a symbolic link
}

// listFiles walks the folder and returns its config files in path order,
// and problems with its subfolders. It fails only when root cannot be read.
func listFiles(root string, maxSize int64) ([]listedFile, []discovery.Problem, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, nil, err
	}
	var files []listedFile
	var problems []discovery.Problem
	err = filepath.WalkDir(realRoot, func(p string, d fs.DirEntry, err error) error {
		name := relName(realRoot, p)
		switch {
		case err != nil && name == ".":
			return err
		case err != nil:
			problems = append(problems, discovery.Problem{Source: name, Reason: err.Error()})
			return nil
		case name != "." && isHidden(name):
			// Editors' swap files, and the ..data folders of a mounted ConfigMap.
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case d.IsDir() || !isConfigFile(name):
			return nil
		}
		files = append(files, statFile(realRoot, p, name, d, maxSize))
		return nil
	})
	// WalkDir goes folder by folder: "a/x.yaml" comes before "a.yaml". Sort by
	// the whole path so that "first" means the same thing to people and code.
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, problems, err
}

// statFile decides whether a config file can be read, from its lstat (and
// its link's target's stat) alone.
func statFile(root, p, name string, d fs.DirEntry, maxSize int64) listedFile {
	f := listedFile{name: name, path: p}
	skip := func(format string, args ...any) listedFile {
		f.problem = &discovery.Problem{Source: name, Reason: fmt.Sprintf(format, args...) + "; skipped"}
		return f
	}
	if d.Type()&fs.ModeSymlink != 0 {
		f.link = true
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return skip("a symbolic link that leads nowhere: %v", err)
		}
		if !within(root, target) {
			return skip("a symbolic link out of the config folder (to %s); pilotlight reads only files inside the folder", target)
		}
		f.path = target
	}
	info, err := os.Stat(f.path)
	switch {
	case err != nil:
		return skip("%v", err)
	case !info.Mode().IsRegular():
		return skip("not a regular file (%s)", fileType(info.Mode()))
	case info.Size() > maxSize:
		return skip("the file has %d bytes, more than the limit of %d (serve --max-config-file-size)", info.Size(), maxSize)
	}
	f.stamp = stampOf(info)
	return f
}

// readFile reads a file listed by listFiles. It opens without blocking (a
// file replaced by a FIFO since it was listed cannot stall the reader),
// checks again that what it opened is a regular file, and never reads more
// than maxSize bytes.
func readFile(f listedFile, maxSize int64) ([]byte, stamp, error) {
	file, err := os.OpenFile(f.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, stamp{}, err
	}
	defer file.Close()
	info, err := file.Stat()
	switch {
	case err != nil:
		return nil, stamp{}, err
	case !info.Mode().IsRegular():
		return nil, stamp{}, fmt.Errorf("not a regular file (%s); skipped", fileType(info.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(file, maxSize+1))
	if err != nil {
		return nil, stamp{}, err
	}
	if int64(len(data)) > maxSize {
		return nil, stamp{}, fmt.Errorf("the file has more than %d bytes, the limit (serve --max-config-file-size); skipped", maxSize)
	}
	return data, stampOf(info), nil
}

func stampOf(info fs.FileInfo) stamp {
	s := stamp{size: info.Size(), modTime: info.ModTime()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		s.inode, s.device = st.Ino, uint64(st.Dev)
	}
	return s
}

func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

// within reports whether path is root or below it. Both are clean and
// free of links.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// relName is p relative to root, slash-separated: how Problems name files.
func relName(root, p string) string {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(rel)
}

func isHidden(name string) bool { return strings.HasPrefix(path.Base(name), ".") }

func isConfigFile(name string) bool {
	switch path.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// errNotDir is returned for a config folder that is a file.
var errNotDir = errors.New("not a directory")

// CheckDir returns an error naming dir when it cannot be read as a
// config folder.
func CheckDir(dir string) error { return checkFolder(dir) }

// checkFolder returns an error naming dir when it cannot be read as a
// folder.
func checkFolder(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("config folder %s: %w", dir, unwrapPathError(err))
	}
	if !info.IsDir() {
		return fmt.Errorf("config folder %s: %w", dir, errNotDir)
	}
	return nil
}

// unwrapPathError drops the path a PathError repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
