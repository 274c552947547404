package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/xds"
)

func explainCommand() *cobra.Command {
	var (
		r         remoteFlags
		namespace string
		resource  string
	)
	cmd := &cobra.Command{
		Use:   "explain POD",
		Short: "Show where each field of a proxy's config comes from",
		Long: `Explain translates the view of one proxy again, recording as it goes
which object and which field each Envoy field comes from, and, when serve
reads a folder, the file and line:

  route http_proxy
    virtual_hosts[front-end.sock-shop.svc.cluster.local:80].routes[1].route.timeout: 5s
      ← VirtualService sock-shop/front-end spec.http[1].timeout (40-virtualservice.yaml:50)

Fields no object sets say which default they get. The recording happens
only for this command: serving proxies never pays for it.`,
		Example: "  pilotlight explain sleep.sock-shop\n  pilotlight explain sleep.sock-shop --resource http_proxy\n" +
			"  pilotlight explain front-end-v1 -n sock-shop --resource 'outbound|80|v1|front-end.sock-shop.svc.cluster.local' -o json",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.checkOutput("", "json", "yaml"); err != nil {
				return err
			}
			query := url.Values{"proxy": {podKey(args[0], namespace)}, "format": {"json"}}
			if resource != "" {
				query.Set("resource", resource)
			}
			var e translate.Explanation
			if err := r.get("/debug/explain", query, &e); err != nil {
				return err
			}
			if r.output != "" {
				return printAs(cmd.OutOrStdout(), r.output, e, nil)
			}
			return e.Text(cmd.OutOrStdout())
		},
	}
	r.addTo(cmd, "json or yaml (default: text)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of POD")
	cmd.Flags().StringVar(&resource, "resource", "", "only the resource (cluster, route table, listener) of this name")
	return cmd
}

// handleExplain serves /debug/explain?proxy=NAMESPACE/POD[&resource=NAME]
// [&format=json]: the connected proxy's view, translated again with
// provenance; positions (file:line) when serving a folder.
func handleExplain(server *xds.Server, configDir string, opts ...translate.Option) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap := server.Snapshot()
		if snap == nil {
			http.Error(w, "no mesh snapshot yet", http.StatusServiceUnavailable)
			return
		}
		pod, err := findPod(server, r.URL.Query().Get("proxy"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		proxy, ok := connectedProxy(server, pod)
		if !ok {
			http.Error(w, fmt.Sprintf("no proxy of pod %s is connected", pod), http.StatusNotFound)
			return
		}
		_, e := translate.Explain(snap, proxy, opts...)
		if name := r.URL.Query().Get("resource"); name != "" {
			e.Only(name)
		}
		if configDir != "" {
			e.Locate(func(source, field string) string {
				pos, err := folder.FieldPosition(configDir, source, field)
				if err != nil {
					return source
				}
				return pos.String()
			})
		}
		if r.URL.Query().Get("format") == "json" {
			writeJSON(w, e)
			return
		}
		var b bytes.Buffer
		_ = e.Text(&b)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(b.Bytes())
	}
}

// connectedProxy is the identity of the connected proxy of pod.
func connectedProxy(server *xds.Server, pod string) (translate.Proxy, bool) {
	for _, p := range server.Proxies() {
		if p.Pod == pod {
			if proxy, err := translate.ParseNodeID(p.ID); err == nil {
				return proxy, true
			}
		}
	}
	return translate.Proxy{}, false
}
