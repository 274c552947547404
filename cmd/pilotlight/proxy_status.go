package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/xds"
)

// statusColumns are proxy-status' type columns, in istioctl's order.
var statusColumns = []struct{ name, typeURL string }{
	{"CDS", resourcev3.ClusterType},
	{"LDS", resourcev3.ListenerType},
	{"EDS", resourcev3.EndpointType},
	{"RDS", resourcev3.RouteType},
	{"SDS", resourcev3.SecretType},
}

// proxyStatusRow is one proxy in proxy-status' output.
type proxyStatusRow struct {
	Name         string                     `json:"name"`
	ID           string                     `json:"id"`
	ControlPlane string                     `json:"controlPlane"`
	EnvoyVersion string                     `json:"envoyVersion"`
	Types        map[string]typeStatusEntry `json:"types"`
}

type typeStatusEntry struct {
	State       xds.SyncState `json:"state"`
	Description string        `json:"description"`
	xds.TypeStatus
}

func proxyStatusCommand() *cobra.Command {
	var (
		r         remoteFlags
		namespace string
	)
	cmd := &cobra.Command{
		Use:   "proxy-status [POD]",
		Short: "Show the xDS sync state of every connected proxy",
		Long: `Proxy-status asks a running pilotlight which proxies are connected and,
for each resource type, whether the proxy has what the control plane sent:

  SYNCED     the proxy ACKed the last version sent
  NOT SENT   nothing of this type was sent (yet)
  STALE      a version was sent and not answered yet, with how long ago
  NACKED     the proxy rejected the last version, with Envoy's error; it
             keeps serving its last good config

POD (name.namespace, namespace/name, or a name with --namespace) shows one
proxy only.`,
		Example: "  pilotlight proxy-status\n  pilotlight proxy-status front-end-v1.sock-shop -o json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.checkOutput("", "json", "yaml"); err != nil {
				return err
			}
			var proxies []xds.ProxyStatus
			if err := r.get("/debug/proxies", nil, &proxies); err != nil {
				return err
			}
			rows := statusRows(proxies, time.Now())
			if len(args) == 1 {
				want := podKey(args[0], namespace)
				rows = filterRows(rows, want)
				if len(rows) == 0 {
					return fmt.Errorf("no connected proxy of pod %s", want)
				}
			}
			return printAs(cmd.OutOrStdout(), r.output, rows, func(w *tabwriter.Writer) { statusTable(w, rows) })
		},
	}
	r.addTo(cmd, "json or yaml (default: a table)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of POD")
	return cmd
}

func statusRows(proxies []xds.ProxyStatus, now time.Time) []proxyStatusRow {
	rows := make([]proxyStatusRow, 0, len(proxies))
	for _, p := range proxies {
		row := proxyStatusRow{Name: podName(p.Pod), ID: p.ID, ControlPlane: p.ControlPlane, EnvoyVersion: p.EnvoyVersion, Types: map[string]typeStatusEntry{}}
		for _, c := range statusColumns {
			ts := p.Types[c.typeURL]
			row.Types[c.name] = typeStatusEntry{State: ts.State(), Description: ts.Describe(now), TypeStatus: ts}
		}
		rows = append(rows, row)
	}
	return rows
}

func filterRows(rows []proxyStatusRow, key string) []proxyStatusRow {
	var out []proxyStatusRow
	for _, r := range rows {
		if r.Name == podName(key) || (!containsSlash(key) && nameOf(r.Name) == key) {
			out = append(out, r)
		}
	}
	return out
}

func statusTable(w *tabwriter.Writer, rows []proxyStatusRow) {
	fmt.Fprint(w, "NAME")
	for _, c := range statusColumns {
		fmt.Fprint(w, "\t", c.name)
	}
	fmt.Fprintln(w, "\tCONTROL PLANE\tVERSION")
	for _, r := range rows {
		fmt.Fprint(w, r.Name)
		for _, c := range statusColumns {
			fmt.Fprint(w, "\t", r.Types[c.name].Description)
		}
		fmt.Fprintf(w, "\t%s\t%s\n", orDash(r.ControlPlane), orDash(r.EnvoyVersion))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
