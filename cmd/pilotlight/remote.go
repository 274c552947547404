package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// remoteFlags are the flags of the commands that ask a running
// `pilotlight serve` over its HTTP port: proxy-status, proxy-config, explain.
type remoteFlags struct {
	addr    string
	output  string
	timeout time.Duration
}

func (r *remoteFlags) addTo(cmd *cobra.Command, outputs string) {
	addr := os.Getenv("PILOTLIGHT_ADDR")
	if addr == "" {
		addr = "127.0.0.1:15014"
	}
	cmd.Flags().StringVar(&r.addr, "pilotlight-addr", addr, "HTTP address of a running pilotlight serve (its --http-addr; env PILOTLIGHT_ADDR)")
	cmd.Flags().StringVarP(&r.output, "output", "o", "", "output format: "+outputs)
	cmd.Flags().DurationVar(&r.timeout, "timeout", 10*time.Second, "how long to wait for pilotlight to answer")
}

// checkOutput accepts the formats a command offers.
func (r *remoteFlags) checkOutput(allowed ...string) error {
	for _, a := range allowed {
		if r.output == a {
			return nil
		}
	}
	return fmt.Errorf("--output %q: want one of %s", r.output, strings.Join(allowed[1:], ", "))
}

// get reads path (with query) from pilotlight and decodes its JSON into v.
func (r *remoteFlags) get(path string, query url.Values, v any) error {
	u := url.URL{Scheme: "http", Host: r.addr, Path: path, RawQuery: query.Encode()}
	return getJSON(&http.Client{Timeout: r.timeout}, u.String(), v)
}

func getJSON(c *http.Client, rawURL string, v any) error {
	resp, err := c.Get(rawURL)
	if err != nil {
		return fmt.Errorf("is pilotlight serving there? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", rawURL, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: %w", rawURL, err)
	}
	return nil
}

// printAs writes v as JSON or YAML, or calls table for the default output.
func printAs(w io.Writer, format string, v any, table func(*tabwriter.Writer)) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		js, err := json.Marshal(v)
		if err != nil {
			return err
		}
		out, err := yaml.JSONToYAML(js)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	table(tw)
	return tw.Flush()
}

// podKey turns a pod argument into "namespace/name". It accepts istioctl's
// "name.namespace", "namespace/name", or a bare name with --namespace (or,
// without it, a bare name the server resolves when it is unique).
func podKey(arg, namespace string) string {
	switch {
	case strings.Contains(arg, "/"):
		return arg
	case namespace != "":
		return namespace + "/" + arg
	}
	if i := strings.LastIndexByte(arg, '.'); i > 0 && i < len(arg)-1 {
		return arg[i+1:] + "/" + arg[:i]
	}
	return arg
}

// podName is istioctl's NAME column: name.namespace.
func podName(key string) string {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return key
	}
	return name + "." + ns
}

func containsSlash(s string) bool { return strings.Contains(s, "/") }

// nameOf is the pod name of an istioctl-style "name.namespace".
func nameOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return name
}
