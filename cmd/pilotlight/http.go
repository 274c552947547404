package main

import (
	"encoding/json"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pilotlight/pilotlight/xds"
)

// debugMux serves the operator's endpoints: metrics, health, and the debug
// views a learner reads to see what the control plane is doing.
func debugMux(server *xds.Server, limits *rateLimitXDS, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !server.Ready() {
			http.Error(w, "no mesh snapshot yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /debug/proxies", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, server.Proxies()) })
	addObservabilityRoutes(mux, server)
	mux.HandleFunc("GET /debug/ratelimit", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, limits.status()) })
	// Problems first, then notices (level info or warning: kinds that were
	// ignored, an empty folder).
	mux.HandleFunc("GET /debug/problems", func(w http.ResponseWriter, _ *http.Request) {
		problems := []any{}
		if snap := server.Snapshot(); snap != nil {
			for _, p := range snap.Problems {
				problems = append(problems, p)
			}
		}
		// What translation found, and generated resources that were not
		// sent because they failed their checks.
		for _, p := range server.Problems() {
			problems = append(problems, p)
		}
		if snap := server.Snapshot(); snap != nil {
			for _, n := range snap.Notices {
				problems = append(problems, n)
			}
		}
		writeJSON(w, problems)
	})
	mux.HandleFunc("GET /debug", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, struct {
			Version   string   `json:"version"`
			GoVersion string   `json:"goVersion"`
			Endpoints []string `json:"endpoints"`
		}{buildVersion(), runtime.Version(), []string{"/debug/proxies", "/debug/problems", "/debug/ratelimit", "/metrics", "/healthz", "/readyz"}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
