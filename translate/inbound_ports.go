package translate

import (
	"github.com/pilotlight/pilotlight/discovery"
)

// A pod's inbound ports (the target ports of the services of its namespace
// that select it) are found once per pod object, and kept from one mesh to
// the next (NewMeshFollowing: the services are the same), instead of
// matching every service's selector again for every proxy on every push.

// inboundPortsOf is discovery.InboundPorts of pod among its namespace's
// services, shared: callers do not change it.
func (m *Mesh) inboundPortsOf(pod *discovery.Pod) []discovery.InboundPort {
	return m.ports.lookup(m.earlierPorts, pod, func() []discovery.InboundPort {
		return discovery.InboundPorts(m.snap.ServicesIn(pod.Namespace), pod)
	})
}
