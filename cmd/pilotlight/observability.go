package main

import (
	"net/http"

	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/xds"
)

// observabilityCommands are the commands that look at a mesh rather than
// run it (issue 15): kept apart from serve and bootstrap.
func observabilityCommands() []*cobra.Command {
	return []*cobra.Command{proxyStatusCommand(), proxyConfigCommand(), analyzeCommand(), explainCommand()}
}

// addObservabilityRoutes adds the endpoints those commands read.
func addObservabilityRoutes(mux *http.ServeMux, server *xds.Server) {
	mux.HandleFunc("GET /debug/config_dump", handleConfigDump(server))
}
