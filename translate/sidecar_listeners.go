package translate

import (
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/pilotlight/pilotlight/discovery"
)

// The listeners of a sidecar whose traffic is not captured that no
// VirtualService shapes (its HTTP proxy's and its inbound ones: the TCP
// listeners of tcp and tls routes are made per view) are made once per pod
// object, and kept from one mesh to the next (NewMeshFollowing: all they
// are made of, the pod, its namespace's services and the security,
// telemetry and rate-limit rules, is the same). A change of routes then
// does not build, marshal and compare every proxy's listeners again.
// Telemetry and EnvoyFilters work on copies of them (decorateTelemetry,
// try).

// sidecarListeners are the HTTP proxy's listener and the inbound ones of
// a sidecar whose traffic is not captured: shared, callers copy the list
// before they add to it.
func (m *Mesh) sidecarListeners(pod *discovery.Pod, ports []discovery.InboundPort) []*listener.Listener {
	build := func() []*listener.Listener {
		httpPorts, tcpPorts := splitInboundPorts(ports)
		return append([]*listener.Listener{outboundProxyListener(m.snap, pod)}, m.inboundListeners(pod, httpPorts, tcpPorts)...)
	}
	if m.explain != nil {
		return build() // made anew, so that explain records where each part comes from
	}
	return m.listeners.lookup(m.earlierListeners, pod, build)
}
