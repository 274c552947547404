package harness

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Stream (TCP and TLS) apps and clients, for tcp and tls routes through
// sidecars and gateways. The echo app in --mode tcp or tls greets every
// connection with one JSON line (StreamHello), then echoes lines.

// StreamHello is the echo app's greeting in stream mode.
type StreamHello struct {
	Pod     string `json:"pod"`
	Version string `json:"version"`
	Service string `json:"service"`
	// SNI is the server name the client sent, as the app saw it (TLS mode).
	SNI string `json:"sni"`
}

// StartStreamApp starts the echo app of pod p in stream mode ("tcp", or
// "tls" with a PEM certificate and key file) on p.Local:port, after
// Mesh.Start, and waits until it listens. Give the pod NoApp and Ports so
// that the mesh knows the port and Start leaves the app to this.
func StartStreamApp(m *Mesh, p *Pod, port int, mode, certFile, keyFile string) *Process {
	m.T.Helper()
	addr := net.JoinHostPort(p.Local, strconv.Itoa(port))
	args := []string{"--mode", mode, "--listen", addr, "--pod", p.Name, "--version", p.Labels["version"], "--service", p.Labels["app"]}
	if mode == "tls" {
		args = append(args, "--cert", certFile, "--key", keyFile)
	}
	proc := Start(m.T, Proc{Label: fmt.Sprintf("echo-%s-%s-%d", mode, p.Name, port), Path: m.Bins.Echo, Args: args})
	if err := proc.WaitLog("listening on", appStartTimeout); err != nil {
		m.T.Fatalf("harness: %v", err)
	}
	p.Apps = append(p.Apps, proc)
	return proc
}

// DialStream connects to addr (through TLS when tlsConfig is not nil),
// reads the app's greeting, and checks that a line comes back echoed: the
// bytes flow both ways through whatever proxies are in between.
func DialStream(addr string, tlsConfig *tls.Config) (*StreamHello, error) {
	raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return CheckStream(raw, addr, tlsConfig)
}

// CheckStream is DialStream on a connection the caller dialed (from a
// network namespace, say); it closes conn.
func CheckStream(raw net.Conn, addr string, tlsConfig *tls.Config) (*StreamHello, error) {
	conn := raw
	if tlsConfig != nil {
		conn = tls.Client(raw, tlsConfig)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	in := bufio.NewReader(conn)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%s: reading the greeting: %w", addr, err)
	}
	var hello StreamHello
	if err := json.Unmarshal(line, &hello); err != nil {
		return nil, fmt.Errorf("%s: greeting %q: %w", addr, line, err)
	}
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	if echo, err := in.ReadString('\n'); err != nil || echo != "ping\n" {
		return nil, fmt.Errorf("%s: echo of ping: %q, %v", addr, echo, err)
	}
	return &hello, nil
}

// WaitForStream dials until ok accepts the greeting (nil ok: any).
func WaitForStream(addr string, tlsConfig *tls.Config, timeout time.Duration, ok func(*StreamHello) bool) (*StreamHello, error) {
	var got *StreamHello
	err := Eventually(timeout, 50*time.Millisecond, func() error {
		h, err := DialStream(addr, tlsConfig)
		if err != nil {
			return err
		}
		if ok != nil && !ok(h) {
			return fmt.Errorf("%s: not the expected greeting yet: %+v", addr, *h)
		}
		got = h
		return nil
	})
	return got, err
}
