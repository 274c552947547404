package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/xds"
)

// configTypes are the resource kinds of proxy-config, by the name users type.
var configTypes = map[string]string{
	"cluster":  resourcev3.ClusterType,
	"listener": resourcev3.ListenerType,
	"route":    resourcev3.RouteType,
	"endpoint": resourcev3.EndpointType,
	"secret":   resourcev3.SecretType,
}

// configDump is the answer of /debug/config_dump: one proxy's resources of
// one type, each in Envoy's JSON.
type configDump struct {
	Proxy     string            `json:"proxy"`
	Type      string            `json:"type"`
	Version   string            `json:"version,omitempty"`
	Resources []json.RawMessage `json:"resources"`
}

// handleConfigDump serves /debug/config_dump?proxy=NAMESPACE/POD&type=cluster:
// what the control plane sends that proxy. Private keys never leave the
// process: they are replaced by "[redacted]", as Envoy's own config_dump does.
func handleConfigDump(server *xds.Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kind := r.URL.Query().Get("type")
		typeURL, ok := configTypes[kind]
		if !ok {
			http.Error(w, fmt.Sprintf("type %q: want cluster, listener, route, endpoint or secret", kind), http.StatusBadRequest)
			return
		}
		pod, err := findPod(server, r.URL.Query().Get("proxy"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		res, ok, err := server.ProxyConfig(pod, typeURL)
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		case !ok:
			http.Error(w, fmt.Sprintf("no proxy of pod %s is connected", pod), http.StatusNotFound)
			return
		}
		out := configDump{Proxy: res.NodeID, Type: kind, Version: res.Version, Resources: []json.RawMessage{}}
		for _, msg := range res.Resources {
			js, err := protojson.Marshal(redacted(msg))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			out.Resources = append(out.Resources, js)
		}
		writeJSON(w, out)
	}
}

// findPod turns the proxy parameter into "namespace/name": given as such,
// or as a bare pod name that exactly one connected proxy has.
func findPod(server *xds.Server, arg string) (string, error) {
	if arg == "" {
		return "", fmt.Errorf("proxy: want NAMESPACE/POD")
	}
	if strings.Contains(arg, "/") {
		return arg, nil
	}
	var found []string
	for _, p := range server.Proxies() {
		if _, name, _ := strings.Cut(p.Pod, "/"); name == arg {
			found = append(found, p.Pod)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no connected proxy of a pod named %q", arg)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("pod %q is in several namespaces (%s): say which", arg, strings.Join(found, ", "))
}

const redactedText = "[redacted]"

// redacted returns msg, or a copy of a Secret without its key material.
func redacted(msg proto.Message) proto.Message {
	s, ok := msg.(*tlsv3.Secret)
	if !ok {
		return msg
	}
	s = proto.Clone(s).(*tlsv3.Secret)
	hide := func(ds **core.DataSource) {
		if *ds != nil {
			*ds = &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: redactedText}}
		}
	}
	if c := s.GetTlsCertificate(); c != nil {
		hide(&c.PrivateKey)
		hide(&c.Password)
	}
	if g := s.GetGenericSecret(); g != nil {
		hide(&g.Secret)
	}
	if k := s.GetSessionTicketKeys(); k != nil {
		for i := range k.Keys {
			hide(&k.Keys[i])
		}
	}
	return s
}
