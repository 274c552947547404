// Package netns gives tests network namespaces of their own: created with
// `ip netns add` (root only), wired with veth pairs, and deleted when the
// test ends, even when it fails. Tests use only addresses inside them.
//
//	a := netns.New(t, "a")                 // pl<pid>-1-a, lo up
//	b := netns.New(t, "b")
//	netns.Link(t, a, "10.244.9.2/24", b, "10.244.9.3/24")
//	a.Do(t, func() { conn, err = net.Dial("tcp", "10.244.9.3:8080") })
package netns

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// NS is a network namespace the test created.
type NS struct {
	Name string
	// Path is its bind mount (/run/netns/NAME), for setns(2) and nsenter.
	Path string
}

// RequireRoot skips the test when it cannot create network namespaces.
// CI runs as root, so there the test runs.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (ip netns add); CI runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to create network namespaces")
	}
}

// prefix names what this test process creates: pl<pid>. Namespaces and
// links of a process that was killed before its cleanups ran carry a pid
// that is gone, which is how the next run finds and deletes them.
var prefix = fmt.Sprintf("pl%d", os.Getpid())

var (
	count     atomic.Int64
	sweepOnce sync.Once
	ours      = regexp.MustCompile(`^pl(\d+)-\d+-`)
)

// New creates namespace pl<pid>-<n>-<role> with its loopback up, and
// deletes it when the test ends.
func New(t testing.TB, role string) *NS {
	t.Helper()
	RequireRoot(t)
	sweepOnce.Do(func() { sweep(t) })
	ns := &NS{Name: fmt.Sprintf("%s-%d-%s", prefix, count.Add(1), role)}
	ns.Path = "/run/netns/" + ns.Name
	Run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("netns: deleting %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// sweep deletes the namespaces that an earlier test process, now gone,
// created and could not delete (it was killed).
func sweep(t testing.TB) {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		m := ours.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		if out, err := exec.Command("ip", "netns", "delete", e.Name()).CombinedOutput(); err != nil {
			t.Logf("netns: deleting %s, left by process %d: %v: %s", e.Name(), pid, err, out)
		}
	}
}

// Run runs a command in the test's own namespace and fails the test on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netns: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Run runs a command inside the namespace (ip netns exec).
func (ns *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Command is the exec.Cmd of a command inside the namespace.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Exec is the argv that runs a command inside the namespace, for process
// helpers that take a path and arguments.
func (ns *NS) Exec(name string, args ...string) (string, []string) {
	return "ip", append([]string{"netns", "exec", ns.Name, name}, args...)
}

// Do runs fn on an OS thread that has entered the namespace: sockets that
// fn creates (listen, dial) belong to it and stay there after Do returns.
func (ns *NS) Do(t testing.TB, fn func()) {
	t.Helper()
	if err := ns.do(fn); err != nil {
		t.Fatalf("netns %s: %v", ns.Name, err)
	}
}

func (ns *NS) do(fn func()) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return err
	}
	defer self.Close()
	target, err := os.Open(ns.Path)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays in the wrong namespace: let it die with
			// the goroutine rather than serve others.
			runtime.Goexit()
		}
	}()
	fn()
	return nil
}

// Dialer dials from inside the namespace: for HTTP clients and the like.
func (ns *NS) Dialer() func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (conn net.Conn, err error) {
		if derr := ns.do(func() { conn, err = net.Dial(network, addr) }); derr != nil {
			return nil, derr
		}
		return conn, err
	}
}

// Fd opens the namespace for nftables.WithNetNSFd and the like; the file
// is closed when the test ends.
func (ns *NS) Fd(t testing.TB) int {
	t.Helper()
	f, err := os.Open(ns.Path)
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

var links atomic.Int64

// Link joins two namespaces with a veth pair, addresses in CIDR notation.
func Link(t testing.TB, a *NS, aAddr string, b *NS, bAddr string) {
	t.Helper()
	n := links.Add(1)
	ea, eb := fmt.Sprintf("%sa%d", prefix, n), fmt.Sprintf("%sb%d", prefix, n)
	Run(t, "ip", "link", "add", ea, "netns", a.Name, "type", "veth", "peer", "name", eb, "netns", b.Name)
	a.Run(t, "ip", "addr", "add", aAddr, "dev", ea)
	a.Run(t, "ip", "link", "set", ea, "up")
	b.Run(t, "ip", "addr", "add", bAddr, "dev", eb)
	b.Run(t, "ip", "link", "set", eb, "up")
}

// Bridge creates a bridge in ns with an address (CIDR notation): the
// switch that pods attached with Attach share.
func Bridge(t testing.TB, ns *NS, name, addr string) {
	t.Helper()
	ns.Run(t, "ip", "link", "add", name, "type", "bridge")
	ns.Run(t, "ip", "addr", "add", addr, "dev", name)
	ns.Run(t, "ip", "link", "set", name, "up")
}

// Attach gives pod an eth0 with addr (CIDR notation) on the bridge of
// bridgeNS, and a default route via gateway, as a pod on a node has. Only
// the bridge's subnet is reachable: what is not for it goes to the
// gateway, a namespace of the test, and stops there.
func Attach(t testing.TB, bridgeNS *NS, bridge string, pod *NS, addr, gateway string) {
	t.Helper()
	peer := fmt.Sprintf("%sv%d", prefix, links.Add(1))
	Run(t, "ip", "link", "add", "eth0", "netns", pod.Name, "type", "veth", "peer", "name", peer, "netns", bridgeNS.Name)
	bridgeNS.Run(t, "ip", "link", "set", peer, "master", bridge)
	bridgeNS.Run(t, "ip", "link", "set", peer, "up")
	pod.Run(t, "ip", "addr", "add", addr, "dev", "eth0")
	pod.Run(t, "ip", "link", "set", "eth0", "up")
	pod.Run(t, "ip", "route", "add", "default", "via", gateway)
}
