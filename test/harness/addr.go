package harness

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
)

// PodAddrs are the two loopback addresses of a pod in local mode.
type PodAddrs struct {
	// PodIP is status.podIP: the sidecar's inbound listeners bind it.
	PodIP string
	// Local plays the pod's localhost: the app, the sidecar's admin
	// (:15000) and its outbound proxy (:15001) bind it.
	Local string
}

// Ports a pod's local address must have free whatever the pod declares.
var sidecarPorts = []int{15000, 15001}

// The allocator hands out pod IPs from 127.<S>.x.y and local addresses from
// 127.<S+1>.x.y, with S even in 100..248, never the demo's 127.10 and
// 127.20. Each test binary starts at its own place, derived from its
// process id (75 values of S times 256 of x), so that test binaries running
// side by side (go test ./... runs packages in parallel) do not meet; within
// one test binary every pair is new, so tests that run one after another
// never wait for a port that an earlier test's processes held. A pair whose
// ports are taken anyway is skipped.
var (
	allocMu   sync.Mutex
	allocNext int
)

const (
	allocSecondOctets = 75
	allocBlocks       = allocSecondOctets * 256
	allocPerProcess   = 250 * 256
)

// allocPair is the n-th pair of this process.
func allocPair(n int) PodAddrs {
	b := os.Getpid() % allocBlocks
	second := 100 + 2*(b%allocSecondOctets)
	third := (b/allocSecondOctets + n/250) % 256
	fourth := n%250 + 1
	return PodAddrs{
		PodIP: fmt.Sprintf("127.%d.%d.%d", second, third, fourth),
		Local: fmt.Sprintf("127.%d.%d.%d", second+1, third, fourth),
	}
}

// AllocPod returns a fresh pair of loopback addresses, checking that ports
// (and the sidecar's admin and proxy ports on the local address) can be
// bound on both.
func AllocPod(t testing.TB, ports ...int) PodAddrs {
	t.Helper()
	a, err := allocPod(ports)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return a
}

func allocPod(ports []int) (PodAddrs, error) {
	allocMu.Lock()
	defer allocMu.Unlock()
	for tries := 0; tries < 1000; tries++ {
		if allocNext >= allocPerProcess {
			return PodAddrs{}, fmt.Errorf("address allocator exhausted")
		}
		a := allocPair(allocNext)
		allocNext++
		if portsFree(a.PodIP, ports) && portsFree(a.Local, append(ports, sidecarPorts...)) {
			return a, nil
		}
	}
	return PodAddrs{}, fmt.Errorf("no free loopback address pair found")
}

func portsFree(host string, ports []int) bool {
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// FreePort returns a TCP port that was free on host (a loopback address) a
// moment ago. Another process may take it before the caller binds it; that
// is unlikely on loopback with the kernel's ephemeral port rotation.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("harness: free port on %s: %v", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns "host:port" with a free port on host.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	return net.JoinHostPort(host, strconv.Itoa(FreePort(t, host)))
}

// FreeAddrs returns n distinct "host:port" addresses with ports that were
// free on host a moment ago (all held open together, so none repeats).
func FreeAddrs(t testing.TB, host string, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("harness: free port on %s: %v", host, err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out
}

// freeUDPAddr is a UDP host:port that was free a moment ago.
func freeUDPAddr(t testing.TB, host string) string {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
