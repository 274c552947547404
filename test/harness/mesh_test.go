package harness

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordTB records the errors a check reports instead of failing the test.
type recordTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordTB) Logf(string, ...any) {}
func (r *recordTB) Helper()             {}

// serve answers path on addr with body (a stand-in for Envoy admin or
// pilotlight's debug endpoints) until the test ends.
func serve(t *testing.T, addr string, bodies map[string]func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for path, body := range bodies {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body()) })
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func TestNackCheckReportsRejectedUpdates(t *testing.T) {
	a := AllocPod(t)
	var mu sync.Mutex
	stats := "cluster_manager.cds.update_rejected: 0\nlistener_manager.lds.update_rejected: 0\n"
	serve(t, net.JoinHostPort(a.Local, "15000"), map[string]func() string{
		"/stats": func() string { mu.Lock(); defer mu.Unlock(); return stats },
	})
	pilot := FreeAddr(t, "127.0.0.1")
	serve(t, pilot, map[string]func() string{
		"/debug/proxies": func() string {
			return `[{"id":"sidecar~x","pod":"ns/a","types":{"t":{"sent":"2","acked":"1","nacked":"2","error":"bad"}}}]`
		},
	})
	// The "sidecar" only has to be a running process.
	sidecar := Start(t, Proc{Label: "fake-envoy", Path: "/bin/sleep", Args: []string{"300"}})

	rec := &recordTB{TB: t}
	m := &Mesh{T: rec, HTTPAddr: pilot, Pods: []*Pod{{Name: "a", Namespace: "ns", PodIP: a.PodIP, Local: a.Local, Envoy: sidecar}}}
	if err := m.WaitSettled(time.Second); err != nil {
		t.Fatalf("a NACKed version counts as settled: %v", err)
	}
	m.checkNoNacks()
	if len(rec.errors) != 0 {
		t.Fatalf("zero counters reported: %v", rec.errors)
	}

	mu.Lock()
	stats = "cluster_manager.cds.update_rejected: 2\nlistener_manager.lds.update_rejected: 0\nhttp.outbound_http_proxy.rds.http_proxy.update_rejected: 1\n"
	mu.Unlock()
	m.checkNoNacks()
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "cluster_manager.cds.update_rejected=2") ||
		!strings.Contains(rec.errors[0], "rds.http_proxy.update_rejected=1") || !strings.Contains(rec.errors[0], "ns/a") {
		t.Fatalf("errors = %q", rec.errors)
	}
}

func TestWaitSettled(t *testing.T) {
	pilot := FreeAddr(t, "127.0.0.1")
	var mu sync.Mutex
	body := `[{"id":"sidecar~x","pod":"ns/a","types":{"t":{"sent":"2","acked":"1"}}}]`
	serve(t, pilot, map[string]func() string{
		"/debug/proxies": func() string { mu.Lock(); defer mu.Unlock(); return body },
	})
	m := &Mesh{T: t, HTTPAddr: pilot, Pods: []*Pod{{Name: "a", Namespace: "ns"}, {Name: "b", Namespace: "ns"}}}
	m.Pods[0].Envoy, m.Pods[1].Envoy = &Process{}, &Process{}
	if err := m.WaitSettled(100 * time.Millisecond); err == nil || !strings.Contains(err.Error(), `sent "2", acked "1"`) {
		t.Fatalf("unacked version: %v", err)
	}
	mu.Lock()
	body = `[{"id":"sidecar~x","pod":"ns/a","types":{"t":{"sent":"2","acked":"2"}}}]`
	mu.Unlock()
	if err := m.WaitSettled(100 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "ns/b is not in /debug/proxies") {
		t.Fatalf("missing proxy: %v", err)
	}
	mu.Lock()
	body = `[{"id":"sidecar~x","pod":"ns/a","types":{"t":{"sent":"2","acked":"2"}}},{"id":"sidecar~y","pod":"ns/b","types":{}}]`
	mu.Unlock()
	if err := m.WaitSettled(time.Second); err != nil {
		t.Fatal(err)
	}
}
