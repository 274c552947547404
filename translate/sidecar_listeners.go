package translate

import (
	"sync"

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

// podListeners are listeners by pod object.
type podListeners struct {
	mu sync.Mutex
	of map[*discovery.Pod][]*listener.Listener
}

func newPodListeners() *podListeners {
	return &podListeners{of: map[*discovery.Pod][]*listener.Listener{}}
}

func (p *podListeners) get(pod *discovery.Pod) ([]*listener.Listener, bool) {
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ls, ok := p.of[pod]
	return ls, ok
}

func (p *podListeners) put(pod *discovery.Pod, ls []*listener.Listener) {
	p.mu.Lock()
	p.of[pod] = ls
	p.mu.Unlock()
}

func (p *podListeners) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.of) == 0
}

// sidecarListeners are the HTTP proxy's listener and the inbound ones of
// a sidecar whose traffic is not captured: shared, callers copy the list
// before they add to it.
func (m *Mesh) sidecarListeners(pod *discovery.Pod, ports []discovery.InboundPort) []*listener.Listener {
	if m.explain == nil {
		if ls, ok := m.listeners.get(pod); ok {
			return ls
		}
		if ls, ok := m.earlierListeners.get(pod); ok {
			m.listeners.put(pod, ls)
			return ls
		}
	}
	httpPorts, tcpPorts := splitInboundPorts(ports)
	ls := append([]*listener.Listener{outboundProxyListener(m.snap, pod)}, m.inboundListeners(pod, httpPorts, tcpPorts)...)
	if m.explain == nil {
		m.listeners.put(pod, ls)
	}
	return ls
}

// listenersToCarry are the listeners a following mesh may take: this
// mesh's if it made any, else those it was given.
func (m *Mesh) listenersToCarry() *podListeners {
	if !m.listeners.empty() {
		return m.listeners
	}
	return m.earlierListeners
}
