package load

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLoad measures the points LOAD_* describe (make bench-load sets a
// small one) and prints them as rows of docs/performance.md's table.
// Without LOAD_SERVICES it is skipped: it takes minutes and a machine of
// its own. Variables (defaults in brackets):
//
//	LOAD_SOURCE           folder or kube [folder]
//	LOAD_SERVICES         services [required]
//	LOAD_ENDPOINTS        pods per service [10]
//	LOAD_NAMESPACES       namespaces the services are spread over [10]
//	LOAD_PROXIES          simulated sidecars [500]
//	LOAD_PROTOCOL         sotw, delta or both [both]
//	LOAD_SCOPED           1: each namespace's Sidecar limits egress to it
//	LOAD_ENDPOINT_CHANGES endpoint changes timed [6]
//	LOAD_ROUTE_CHANGES    route changes timed [4]
//	LOAD_SERVER_ARGS      more flags for pilotlight serve
//	LOAD_OUT              append the rows to this file too
//	LOAD_PPROF            save the server's heap (synced) and CPU (cold sync, endpoint changes, route changes) profiles here, and an execution trace (go tool trace) of the first endpoint changes
//	LOAD_WARM             0: do not grow the harness's heap before the cold sync (heap.go) [1]
func TestLoad(t *testing.T) {
	if os.Getenv("LOAD_SERVICES") == "" {
		t.Skip("LOAD_SERVICES not set (make bench-load runs a small point)")
	}
	base := Point{
		Mesh: Mesh{
			Services: envInt(t, "LOAD_SERVICES", 0), Endpoints: envInt(t, "LOAD_ENDPOINTS", 10),
			Namespaces: envInt(t, "LOAD_NAMESPACES", 10), Scoped: os.Getenv("LOAD_SCOPED") == "1",
		},
		Proxies:         envInt(t, "LOAD_PROXIES", 500),
		Source:          envString("LOAD_SOURCE", "folder"),
		EndpointChanges: envInt(t, "LOAD_ENDPOINT_CHANGES", 6),
		RouteChanges:    envInt(t, "LOAD_ROUTE_CHANGES", 4),
		ServerArgs:      strings.Fields(os.Getenv("LOAD_SERVER_ARGS")),
		Timeout:         10 * time.Minute,
		Profiles:        os.Getenv("LOAD_PPROF"),
		WarmHeap:        os.Getenv("LOAD_WARM") != "0",
	}
	var protocols []bool
	switch os.Getenv("LOAD_PROTOCOL") {
	case "sotw":
		protocols = []bool{false}
	case "delta":
		protocols = []bool{true}
	case "", "both":
		protocols = []bool{false, true}
	default:
		t.Fatalf("LOAD_PROTOCOL %q: want sotw, delta or both", os.Getenv("LOAD_PROTOCOL"))
	}
	conditions := Conditions()
	rows := []string{}
	for _, delta := range protocols {
		p := base
		p.Delta = delta
		t.Run(p.protocol(), func(t *testing.T) {
			r := Run(t, p)
			rows = append(rows, r.Row())
			t.Logf("\n%s\n%s", TableHeader, r.Row())
		})
	}
	out := fmt.Sprintf("\n%s\nat the start: %s\nat the end:   %s\n\n%s\n%s\n", base, conditions, Conditions(), TableHeader, strings.Join(rows, "\n"))
	t.Log(out)
	if path := os.Getenv("LOAD_OUT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(out); err != nil {
			t.Fatal(err)
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, v)
	}
	return n
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// TestLoadSmoke runs the harness on a tiny mesh, in both protocols, against
// a real `pilotlight serve`: every sidecar syncs (clusters, endpoints,
// secrets, listeners, routes) over TLS with its token, and an endpoint
// change reaches each sidecar as exactly the two load assignments it
// changed (the service's and its subset's), a route change as the one
// route table. Counts, not times: nothing here depends on the machine.
func TestLoadSmoke(t *testing.T) {
	for _, delta := range []bool{false, true} {
		p := Point{Mesh: Mesh{Services: 12, Endpoints: 4, Namespaces: 3}, Proxies: 12, Delta: delta,
			EndpointChanges: 2, RouteChanges: 2, Timeout: 2 * time.Minute}
		t.Run(p.protocol(), func(t *testing.T) { checkSmoke(t, p, p.Proxies) })
	}
	// Scoped: each namespace's Sidecar admits only its own namespace, so a
	// change reaches the 4 sidecars of the changed service's namespace.
	p := Point{Mesh: Mesh{Services: 12, Endpoints: 4, Namespaces: 3, Scoped: true}, Proxies: 12,
		EndpointChanges: 2, RouteChanges: 2, Timeout: 2 * time.Minute}
	t.Run("sotw scoped", func(t *testing.T) { checkSmoke(t, p, p.Proxies/p.Namespaces) })
}

// checkSmoke runs p and checks what each change sent, and to how many
// sidecars.
func checkSmoke(t *testing.T, p Point, reached int) {
	r := Run(t, p)
	if r.Endpoint.ResourcesPerProxy != 2 {
		t.Errorf("an endpoint change sent %.1f load assignments per sidecar, want the 2 that changed", r.Endpoint.ResourcesPerProxy)
	}
	if r.Route.ResourcesPerProxy != 1 {
		t.Errorf("a route change sent %.1f route tables per sidecar, want 1", r.Route.ResourcesPerProxy)
	}
	if r.Endpoint.Proxies != float64(reached) || r.Route.Proxies != float64(reached) {
		t.Errorf("changes reached %v and %v sidecars, want %d", r.Endpoint.Proxies, r.Route.Proxies, reached)
	}
}
