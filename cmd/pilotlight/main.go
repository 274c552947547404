// Command pilotlight is a small service-mesh control plane: it reads
// Kubernetes and Istio config and serves Envoy proxies over ADS.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "pilotlight",
		Short:         "A small, readable service-mesh control plane for Envoy",
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("pilotlight {{.Version}}\n")
	root.AddCommand(serveCommand(), bootstrapCommand(), initCaptureCommand())
	root.AddCommand(observabilityCommands()...)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "pilotlight:", err)
		os.Exit(1)
	}
}
