package translate

import (
	"sync"

	"github.com/pilotlight/pilotlight/discovery"
)

// A pod's inbound ports (the target ports of the services of its namespace
// that select it) are found once per pod object, and kept from one mesh to
// the next (NewMeshFollowing: the services are the same), instead of
// matching every service's selector again for every proxy on every push.

// podPorts are the inbound ports of pods, by pod object: a snapshot's
// objects are never changed, so the same pod is the same labels and ports.
type podPorts struct {
	mu sync.Mutex
	of map[*discovery.Pod][]discovery.InboundPort
}

func newPodPorts() *podPorts { return &podPorts{of: map[*discovery.Pod][]discovery.InboundPort{}} }

func (p *podPorts) get(pod *discovery.Pod) ([]discovery.InboundPort, bool) {
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ports, ok := p.of[pod]
	return ports, ok
}

func (p *podPorts) put(pod *discovery.Pod, ports []discovery.InboundPort) {
	p.mu.Lock()
	p.of[pod] = ports
	p.mu.Unlock()
}

func (p *podPorts) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.of) == 0
}

// inboundPortsOf is discovery.InboundPorts of pod among its namespace's
// services, shared: callers do not change it.
func (m *Mesh) inboundPortsOf(pod *discovery.Pod) []discovery.InboundPort {
	ports, ok := m.ports.get(pod)
	if !ok {
		ports, ok = m.earlierPorts.get(pod)
	}
	if !ok {
		ports = discovery.InboundPorts(m.snap.ServicesIn(pod.Namespace), pod)
	}
	m.ports.put(pod, ports)
	return ports
}

// portsToCarry are the inbound ports a following mesh may take: this
// mesh's if it found any, else those it was given.
func (m *Mesh) portsToCarry() *podPorts {
	if !m.ports.empty() {
		return m.ports
	}
	return m.earlierPorts
}
