package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/pilotlight/pilotlight/test/netns"
)

// TestApplyInNetworkNamespaces installs the rules for real (root only: CI
// runs as root) in a namespace of the test's own, pod B, linked by a veth
// to pod A. Then, with no proxy anywhere, plain sockets show the capture:
// B's outbound TCP reaches its 15001 with SO_ORIGINAL_DST intact, A's
// connection to B reaches B's 15006, and what is excluded is not captured.
func TestApplyInNetworkNamespaces(t *testing.T) {
	a, b := netns.New(t, "capa"), netns.New(t, "capb")
	netns.Link(t, a, "10.244.9.2/24", b, "10.244.9.3/24")
	// A default route, as a pod has, so that a dial to any address leaves by
	// the veth (only 10.244.9.0/24 is on the link; nothing is sent outside).
	b.Run(t, "ip", "route", "add", "default", "via", "10.244.9.2")

	rs, err := Build(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	fd := b.Fd(t)
	for i := 0; i < 2; i++ { // twice: a restarted init container replaces the table
		if err := Apply(rs, nftables.WithNetNSFd(fd)); err != nil {
			t.Fatal(err)
		}
	}
	installed, err := Installed(nftables.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rs.Chains {
		if installed[c.Name] != len(c.Rules) {
			t.Errorf("chain %s: %d rules installed, want %d (all: %v)", c.Name, installed[c.Name], len(c.Rules), installed)
		}
	}

	outbound := listen(t, b, "0.0.0.0:15001")
	inbound := listen(t, b, "0.0.0.0:15006")
	health := listen(t, b, "0.0.0.0:15021")
	app := listen(t, b, "10.244.9.3:8080")

	// B's app dials a service address: captured to 15001.
	expectAt(t, b, "10.96.0.10:80", outbound, "10.96.0.10:80")
	// B dials its own pod IP: not captured (the kernel delivers it on lo).
	expectAt(t, b, "10.244.9.3:8080", app, "")
	// A dials B's app port: captured by B's prerouting to 15006.
	expectAt(t, a, "10.244.9.3:8080", inbound, "10.244.9.3:8080")
	// A dials B's health port: excluded, it reaches the listener itself.
	expectAt(t, a, "10.244.9.3:15021", health, "")
}

// listen opens a TCP listener inside ns; connections arrive on the channel.
func listen(t *testing.T, ns *netns.NS, addr string) chan *net.TCPConn {
	t.Helper()
	var ln net.Listener
	var err error
	ns.Do(t, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *net.TCPConn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c.(*net.TCPConn)
		}
	}()
	return ch
}

// expectAt dials dst from ns and checks which listener took the connection
// and, when origDst is set, its SO_ORIGINAL_DST.
func expectAt(t *testing.T, ns *netns.NS, dst string, at chan *net.TCPConn, origDst string) {
	t.Helper()
	var c net.Conn
	var err error
	ns.Do(t, func() { c, err = net.DialTimeout("tcp", dst, 5*time.Second) })
	if err != nil {
		t.Fatalf("dial %s from %s: %v", dst, ns.Name, err)
	}
	defer c.Close()
	select {
	case got := <-at:
		defer got.Close()
		if origDst == "" {
			return
		}
		od, err := originalDst(got)
		if err != nil || od != origDst {
			t.Errorf("dial %s: SO_ORIGINAL_DST %s (%v), want %s", dst, od, err, origDst)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("dial %s from %s: the expected listener got no connection", dst, ns.Name)
	}
}

// originalDst reads SO_ORIGINAL_DST, as Envoy's original_dst filter does.
func originalDst(c *net.TCPConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var addr string
	var serr error
	err = raw.Control(func(fd uintptr) {
		// The sockaddr_in comes back in the space of an IPv6Mreq.
		m, e := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
		if e != nil {
			serr = e
			return
		}
		port := binary.BigEndian.Uint16(m.Multiaddr[2:4])
		ip := netip.AddrFrom4([4]byte(m.Multiaddr[4:8]))
		addr = fmt.Sprintf("%s:%d", ip, port)
	})
	if err != nil {
		return "", err
	}
	return addr, serr
}
