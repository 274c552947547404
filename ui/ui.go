// Package ui is pilotlight's built-in web view at /ui: the mesh graph
// (services and workloads, edges with request rate, error rate, p99 and
// mTLS), every proxy's sync state, the config problems, and a proxy's
// explain view. The page is plain HTML, CSS and JavaScript embedded in the
// binary: nothing is built or fetched at run time, and it works offline.
package ui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Handler serves the page under /ui/ and its data under /ui/api/.
func Handler(src Source) http.Handler {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) })
	mux.HandleFunc("GET /ui/api/graph", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, buildGraph(src)) })
	mux.HandleFunc("GET /ui/api/proxies", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, proxyRows(src)) })
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
