// Package translate turns a mesh snapshot and one proxy's identity into the
// Envoy resources that proxy needs. Every function here is pure: no I/O, no
// clocks, no globals; the same input gives byte-identical output.
package translate

import (
	"fmt"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// ProxyType is the role of a connected Envoy, as in Istio's node ids.
type ProxyType string

const (
	// Sidecar is an Envoy next to one application pod.
	Sidecar ProxyType = "sidecar"
	// Router is a standalone gateway Envoy (Istio's ingress gateway).
	Router ProxyType = "router"
)

// InterceptionMode is how an app's traffic reaches its sidecar. A sidecar
// says which in its node metadata, as Istio's do (INTERCEPTION_MODE).
type InterceptionMode string

const (
	// InterceptNone is local mode: no capture. The app uses the sidecar as
	// an HTTP proxy and the sidecar binds the pod's own addresses.
	InterceptNone InterceptionMode = "NONE"
	// InterceptRedirect is capture by nat REDIRECT (`pilotlight
	// init-capture`): outbound TCP to 15001, inbound TCP to 15006.
	InterceptRedirect InterceptionMode = "REDIRECT"
)

// Node metadata keys a sidecar's bootstrap sets (Istio's names).
const (
	MetadataInterceptionMode = "INTERCEPTION_MODE"
	MetadataServiceAccount   = "SERVICE_ACCOUNT"
	// MetadataVersion is pilotlight's version, as Istio sends ISTIO_VERSION.
	MetadataVersion = "PILOTLIGHT_VERSION"
)

// Proxy identifies the Envoy a view is built for.
type Proxy struct {
	Type      ProxyType
	IP        string
	PodName   string
	Namespace string
	// Interception is "" (same as InterceptNone) or InterceptRedirect.
	Interception InterceptionMode
}

// Captured reports whether the proxy's traffic is captured (iptables mode),
// so that it gets the virtual outbound and inbound listeners.
func (p Proxy) Captured() bool { return p.Interception == InterceptRedirect }

// ProxyFromNode reads the Envoy node of an xDS request: its id, and the
// interception mode from its metadata. Istio's TPROXY mode is refused
// rather than served the wrong listeners.
func ProxyFromNode(node *core.Node) (Proxy, error) {
	p, err := ParseNodeID(node.GetId())
	if err != nil {
		return Proxy{}, err
	}
	mode := InterceptionMode(node.GetMetadata().GetFields()[MetadataInterceptionMode].GetStringValue())
	switch mode {
	case "", InterceptNone:
	case InterceptRedirect:
		if p.Type != Sidecar {
			return Proxy{}, fmt.Errorf("node %q: %s %s is for sidecars only", node.GetId(), MetadataInterceptionMode, mode)
		}
		p.Interception = mode
	default:
		return Proxy{}, fmt.Errorf("node %q: metadata %s %q is not supported (want %s or %s)",
			node.GetId(), MetadataInterceptionMode, mode, InterceptRedirect, InterceptNone)
	}
	return p, nil
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
