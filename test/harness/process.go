package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a process group gets between SIGTERM and SIGKILL.
var stopGrace = 5 * time.Second

// dumpLimit is how much of the end of each log is printed on failure.
const dumpLimit = 64 << 10

// Proc describes a process to start.
type Proc struct {
	// Label names the process in messages and its log file (default: the
	// program's base name).
	Label string
	Path  string
	Args  []string
	// Env is added to the test's own environment.
	Env []string
	Dir string
	// MayExit: an exit before the test's cleanup is not an error. By
	// default the harness expects servers, and reports one that exited.
	MayExit bool
}

// Process is a running child process whose output goes to a log file. Its
// whole process group is stopped when the test ends.
type Process struct {
	Label   string
	LogPath string
	Cmd     *exec.Cmd

	t       testing.TB
	log     *os.File
	done    chan struct{}
	mu      sync.Mutex
	waitErr error
	stopped bool // we asked it to stop
	mayExit bool
}

// StartProcess starts name with args in its own process group, output (both
// streams) to a log file in LogDir(t). At the test's cleanup the group gets
// SIGTERM, then SIGKILL after a grace period; the log is printed when the
// test failed; and a process that had exited on its own is reported as an
// error (see Proc.MayExit).
func StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return Start(t, Proc{Path: name, Args: args})
}

var labelsMu sync.Mutex
var labelsUsed = map[string]int{}

// Start starts a process described by p; see StartProcess.
func Start(t testing.TB, p Proc) *Process {
	t.Helper()
	label := p.Label
	if label == "" {
		label = filepath.Base(p.Path)
	}
	dir := LogDir(t)
	labelsMu.Lock()
	key := dir + "\x00" + label
	labelsUsed[key]++
	n := labelsUsed[key]
	labelsMu.Unlock()
	logName := label
	if n > 1 {
		logName = fmt.Sprintf("%s.%d", label, n)
		label = logName
	}
	logPath := filepath.Join(dir, sanitize(logName)+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	fmt.Fprintf(lf, "# %s %s\n", p.Path, strings.Join(quoteArgs(p.Args), " "))

	cmd := exec.Command(p.Path, p.Args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If the test binary dies without running cleanups (a panic or
		// -timeout), the kernel kills the child too.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("harness: starting %s: %v", label, err)
	}
	proc := &Process{Label: label, LogPath: logPath, Cmd: cmd, t: t, log: lf, done: make(chan struct{}), mayExit: p.MayExit}
	go func() {
		err := cmd.Wait()
		proc.mu.Lock()
		proc.waitErr = err
		proc.mu.Unlock()
		close(proc.done)
	}()
	t.Cleanup(proc.cleanup)
	return proc
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$|&;<>()*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// Pid is the process id (and process group id).
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.waitErr
	default:
		return false, nil
	}
}

// CheckRunning returns an error (with the end of the log) when the process
// has exited; waits use it to fail fast instead of running into a deadline.
func (p *Process) CheckRunning() error {
	if exited, err := p.Exited(); exited {
		return fmt.Errorf("%s exited (%v); end of its log:\n%s", p.Label, exitText(err), p.Tail(4<<10))
	}
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// Logs returns the whole log so far.
func (p *Process) Logs() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Tail returns at most n bytes from the end of the log.
func (p *Process) Tail(n int64) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := int64(0)
	prefix := ""
	if st.Size() > n {
		off = st.Size() - n
		prefix = fmt.Sprintf("[... %d bytes before]\n", off)
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	return prefix + string(b)
}

// WaitLog waits until the log contains substr.
func (p *Process) WaitLog(substr string, timeout time.Duration) error {
	return Eventually(timeout, 20*time.Millisecond, func() error {
		if b, _ := os.ReadFile(p.LogPath); bytes.Contains(b, []byte(substr)) {
			return nil
		}
		if err := p.CheckRunning(); err != nil {
			return Permanent(err)
		}
		return fmt.Errorf("%s: no %q in its log yet", p.Label, substr)
	})
}

// Stop stops the process group (SIGTERM, then SIGKILL after a grace period)
// and waits for the process. It is safe to call more than once; cleanup
// calls it too.
func (p *Process) Stop() error {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	pgid := p.Cmd.Process.Pid
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	}
	// The leader is gone; take any member of its group that is left with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.Cmd.Process.Pid, sig)
}

func (p *Process) cleanup() {
	p.mu.Lock()
	wasStopped := p.stopped
	p.mu.Unlock()
	exitedEarly, err := p.Exited()
	if exitedEarly && !wasStopped && !p.mayExit {
		p.t.Errorf("harness: %s exited before the end of the test (%s)", p.Label, exitText(err))
	}
	_ = p.Stop()
	p.log.Close()
	if p.t.Failed() {
		p.t.Logf("==== log of %s (%s) ====\n%s\n==== end of %s ====", p.Label, p.LogPath, p.Tail(dumpLimit), p.Label)
	}
}

// errPermanent marks an error that ends Eventually at once.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// Permanent wraps err so that Eventually returns it without retrying.
func Permanent(err error) error { return errPermanent{err} }

// Eventually calls fn every interval until it returns nil, returns a
// Permanent error, or timeout has passed; it then returns fn's last error.
func Eventually(timeout, interval time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var perm errPermanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}
