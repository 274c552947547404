package harness

// Helpers for the DestinationRule end-to-end tests: endpoints that
// misbehave on purpose, endpoints without a sidecar, and clients that call
// from a chosen source address.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReplaceApp stops the echo app of a started pod on port and serves h on
// the same address instead, until the test ends. A test makes one endpoint
// misbehave this way (say, answer 500 to everything) while the sidecar in
// front of it stays as it was.
func ReplaceApp(t testing.TB, p *Pod, port int, h http.Handler) {
	t.Helper()
	for i, cp := range p.Ports {
		if cp.Port != port || i >= len(p.Apps) {
			continue
		}
		if err := p.Apps[i].Stop(); err != nil {
			t.Logf("harness: stopping %s: %v", p.Apps[i].Label, err)
		}
		Serve(t, net.JoinHostPort(p.Local, strconv.Itoa(port)), h)
		return
	}
	t.Fatalf("harness: pod %s has no app on port %d", p.Key(), port)
}

// Serve serves h on addr (host:port) in the test process until the test
// ends. The listener is bound before Serve returns.
func Serve(t testing.TB, addr string, h http.Handler) {
	t.Helper()
	serveHTTP(t, listenRetrying(t, addr), h)
}

// ServeTLS is Serve over TLS with the given server configuration.
func ServeTLS(t testing.TB, addr string, cfg *tls.Config, h http.Handler) {
	t.Helper()
	serveHTTP(t, tls.NewListener(listenRetrying(t, addr), cfg), h)
}

func listenRetrying(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := Eventually(5*time.Second, 50*time.Millisecond, func() error {
		var err error
		ln, err = net.Listen("tcp", addr) // a stopped app may still be letting go of it
		return err
	})
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return ln
}

func serveHTTP(t testing.TB, ln net.Listener, h http.Handler) {
	addr := ln.Addr().String()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(testLogWriter{t, addr}, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Logf("harness: server on %s: %v", addr, err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
}

// AddPodWithoutSidecar adds a pod that is only an endpoint: it is written
// into the config folder (so services select it), but Start runs neither an
// app nor a sidecar for it. The test serves whatever it likes on
// PodIP:port, e.g. a TLS server that the mesh's sidecars originate TLS to.
// Call it before Start.
func (m *Mesh) AddPodWithoutSidecar(name string, labels map[string]string, port int) *Pod {
	m.T.Helper()
	p := &Pod{Name: name, Namespace: m.Namespace, Labels: labels, Ports: []ContainerPort{{Name: "http", Port: port}}}
	a := AllocPod(m.T, port)
	p.PodIP, p.Local = a.PodIP, a.Local
	m.WriteFile("pod-without-sidecar-"+name+".yaml", p.YAML())
	return p
}

// ProxyClientFrom is ProxyClient with the client's connections bound to
// sourceIP: the sidecar sees requests from that address, as if from another
// pod. Without it every local-mode client calls from 127.0.0.1.
func ProxyClientFrom(localAddr, sourceIP string) *http.Client {
	proxy := &url.URL{Scheme: "http", Host: net.JoinHostPort(localAddr, fmt.Sprint(OutboundPort))}
	dialer := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(sourceIP)}}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:              http.ProxyURL(proxy),
			DisableKeepAlives:  true,
			DisableCompression: true,
			DialContext:        dialer.DialContext,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// testLogWriter sends a server's error log (failed TLS handshakes and the
// like) to the test's log instead of stderr.
type testLogWriter struct {
	t    testing.TB
	addr string
}

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Logf("server on %s: %s", w.addr, strings.TrimSpace(string(b)))
	return len(b), nil
}
