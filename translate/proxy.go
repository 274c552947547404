// Package translate turns a mesh snapshot and one proxy's identity into the
// Envoy resources that proxy needs. Every function here is pure: no I/O, no
// clocks, no globals; the same input gives byte-identical output.
package translate

import (
	"fmt"
	"strings"
)

// ProxyType is the role of a connected Envoy, as in Istio's node ids.
type ProxyType string

const (
	// Sidecar is an Envoy next to one application pod.
	Sidecar ProxyType = "sidecar"
	// Router is a standalone gateway Envoy (Istio's ingress gateway).
	Router ProxyType = "router"
)

// Proxy identifies the Envoy a view is built for.
type Proxy struct {
	Type      ProxyType
	IP        string
	PodName   string
	Namespace string
}

// NodeID renders the Istio-style node id: type~ip~pod.namespace~namespace.svc.cluster.local.
func (p Proxy) NodeID() string {
	return fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", p.Type, p.IP, p.PodName, p.Namespace, p.Namespace)
}

// ParseNodeID reads an Istio-style node id back into a Proxy.
func ParseNodeID(id string) (Proxy, error) {
	parts := strings.Split(id, "~")
	if len(parts) != 4 {
		return Proxy{}, fmt.Errorf("node id %q: want type~ip~pod.namespace~domain", id)
	}
	t := ProxyType(parts[0])
	if t != Sidecar && t != Router {
		return Proxy{}, fmt.Errorf("node id %q: unknown proxy type %q", id, parts[0])
	}
	name, ns, ok := strings.Cut(parts[2], ".")
	if !ok || name == "" || ns == "" {
		return Proxy{}, fmt.Errorf("node id %q: want pod.namespace in the third part", id)
	}
	return Proxy{Type: t, IP: parts[1], PodName: name, Namespace: ns}, nil
}
