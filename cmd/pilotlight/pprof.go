package main

import (
	"net/http"
	"net/http/pprof"
)

// addProfiles serves Go's profiles under /debug/pprof/ (serve --pprof), for
// maintainers measuring the server (test/load, docs/performance.md). Off by
// default: a CPU profile costs the server what it measures.
func addProfiles(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
