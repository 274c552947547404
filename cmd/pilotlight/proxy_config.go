package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func proxyConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy-config cluster|listener|route|endpoint|secret POD",
		Short: "Show the config the control plane sends a proxy, or the proxy's own",
		Long: `Proxy-config shows one kind of a proxy's xDS resources: what the running
pilotlight sends it (the default), or, with --from-envoy, what that Envoy
itself holds, read from its admin config_dump. Comparing the two shows
whether a proxy took what it was sent.

The default output is a table in istioctl's shape; -o json or -o yaml
prints the resources in Envoy's own JSON. Secrets never show key material.`,
		Example: "  pilotlight proxy-config cluster front-end-v1.sock-shop\n" +
			"  pilotlight proxy-config route sleep.sock-shop --name http_proxy -o json\n" +
			"  pilotlight proxy-config listener sleep.sock-shop --from-envoy 127.20.0.9:15000",
	}
	for _, kind := range []string{"cluster", "listener", "route", "endpoint", "secret"} {
		cmd.AddCommand(proxyConfigKindCommand(kind))
	}
	return cmd
}

func proxyConfigKindCommand(kind string) *cobra.Command {
	var (
		r         remoteFlags
		namespace string
		name      string
		fromEnvoy string
	)
	cmd := &cobra.Command{
		Use:     kind + " POD",
		Aliases: []string{kind + "s"},
		Short:   "Show the " + kind + "s of a proxy",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.checkOutput("", "json", "yaml"); err != nil {
				return err
			}
			var raw []json.RawMessage
			var err error
			if fromEnvoy != "" {
				raw, err = envoyResources(&http.Client{Timeout: r.timeout}, fromEnvoy, kind)
			} else {
				var dump configDump
				err = r.get("/debug/config_dump", url.Values{"proxy": {podKey(args[0], namespace)}, "type": {kind}}, &dump)
				raw = dump.Resources
			}
			if err != nil {
				return err
			}
			msgs, err := decodeResources(kind, raw)
			if err != nil {
				return err
			}
			if name != "" {
				raw, msgs = keepNamed(raw, msgs, name)
			}
			return printAs(cmd.OutOrStdout(), r.output, raw, func(w *tabwriter.Writer) { configTables[kind](w, msgs) })
		},
	}
	r.addTo(cmd, "json or yaml (default: a table)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of POD")
	cmd.Flags().StringVar(&name, "name", "", "only the resource of this name (for endpoints, this cluster's)")
	cmd.Flags().StringVar(&fromEnvoy, "from-envoy", "", "read the proxy's own config from its admin address (HOST:PORT) instead of from pilotlight")
	return cmd
}

// decodeResources parses Envoy JSON into the message type of kind.
func decodeResources(kind string, raw []json.RawMessage) ([]proto.Message, error) {
	out := make([]proto.Message, 0, len(raw))
	for _, js := range raw {
		msg := newConfigMessage(kind)
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(js, msg); err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		out = append(out, msg)
	}
	return out, nil
}

func keepNamed(raw []json.RawMessage, msgs []proto.Message, name string) ([]json.RawMessage, []proto.Message) {
	var r []json.RawMessage
	var m []proto.Message
	for i, msg := range msgs {
		if resourceName(msg) == name {
			r, m = append(r, raw[i]), append(m, msg)
		}
	}
	return r, m
}

// envoyResources reads an Envoy's admin /config_dump (endpoints included)
// and returns the resources of kind, static and dynamic, sorted by name.
func envoyResources(c *http.Client, admin, kind string) ([]json.RawMessage, error) {
	var dump struct {
		Configs []map[string]json.RawMessage `json:"configs"`
	}
	if err := getJSON(c, "http://"+admin+"/config_dump?include_eds", &dump); err != nil {
		return nil, err
	}
	want := dumpSections[kind]
	var out []json.RawMessage
	for _, section := range dump.Configs {
		var typ string
		_ = json.Unmarshal(section["@type"], &typ)
		if typ != want.dumpType {
			continue
		}
		for _, list := range want.lists {
			var entries []map[string]json.RawMessage
			if js, ok := section[list.field]; ok {
				if err := json.Unmarshal(js, &entries); err != nil {
					return nil, fmt.Errorf("config_dump %s: %w", list.field, err)
				}
			}
			for _, e := range entries {
				if js := dig(e, list.path...); js != nil {
					out = append(out, js)
				}
			}
		}
	}
	sortRaw(kind, out)
	return out, nil
}

// dig follows keys through nested JSON objects.
func dig(obj map[string]json.RawMessage, path ...string) json.RawMessage {
	js := obj[path[0]]
	for _, key := range path[1:] {
		var next map[string]json.RawMessage
		if js == nil || json.Unmarshal(js, &next) != nil {
			return nil
		}
		js = next[key]
	}
	return js
}

func sortRaw(kind string, raw []json.RawMessage) {
	names := make([]string, len(raw))
	for i, js := range raw {
		var n struct {
			Name        string `json:"name"`
			ClusterName string `json:"cluster_name"`
		}
		_ = json.Unmarshal(js, &n)
		names[i] = n.Name + n.ClusterName
	}
	idx := make([]int, len(raw))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
	sorted := make([]json.RawMessage, len(raw))
	for i, j := range idx {
		sorted[i] = raw[j]
	}
	copy(raw, sorted)
}

type dumpList struct {
	field string
	path  []string
}

// dumpSections say where each kind sits in Envoy's admin.v3 config dumps.
var dumpSections = map[string]struct {
	dumpType string
	lists    []dumpList
}{
	"cluster": {"type.googleapis.com/envoy.admin.v3.ClustersConfigDump", []dumpList{
		{"static_clusters", []string{"cluster"}}, {"dynamic_active_clusters", []string{"cluster"}}}},
	"listener": {"type.googleapis.com/envoy.admin.v3.ListenersConfigDump", []dumpList{
		{"static_listeners", []string{"listener"}}, {"dynamic_listeners", []string{"active_state", "listener"}}}},
	"route": {"type.googleapis.com/envoy.admin.v3.RoutesConfigDump", []dumpList{
		{"static_route_configs", []string{"route_config"}}, {"dynamic_route_configs", []string{"route_config"}}}},
	"endpoint": {"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", []dumpList{
		{"static_endpoint_configs", []string{"endpoint_config"}}, {"dynamic_endpoint_configs", []string{"endpoint_config"}}}},
	"secret": {"type.googleapis.com/envoy.admin.v3.SecretsConfigDump", []dumpList{
		{"static_secrets", []string{"secret"}}, {"dynamic_active_secrets", []string{"secret"}}}},
}
