package translate

import (
	"sync"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// Istio's Sidecar resource: what a sidecar may reach. A sidecar a Sidecar
// applies to (discovery.Snapshot.SidecarFor) gets the clusters, endpoints,
// route tables and outbound listeners of the services its egress hosts
// admit, and of the VirtualServices they admit together with those
// VirtualServices' destinations (so that every route has its cluster, as
// Istio adds them); its inbound side, and gateways, are not affected.
//
// The outbound part of such a proxy's view comes from a Mesh of its own
// scope: the snapshot with only the services and VirtualServices in scope
// (a shallow copy), built once per Sidecar and proxy namespace (a
// root-namespace default Sidecar's "." is each proxy's namespace) and
// shared by every proxy of the scope. Its clusters and endpoints are the
// mesh's own, the same pointers, so each is still marshaled once.

// outboundFor is the Mesh of the proxy's outbound view: m, or the Mesh of
// its Sidecar scope.
func (m *Mesh) outboundFor(p Proxy) *Mesh {
	if p.Type != Sidecar || m.scopes == nil {
		return m
	}
	pod := m.snap.Pod(p.Namespace, p.PodName)
	sc := m.snap.SidecarFor(pod)
	if sc == nil || len(sc.Spec.GetEgress()) == 0 {
		return m // no Sidecar, or one that does not limit egress
	}
	key := sc.Key() + "\x00" + pod.Namespace
	if v, ok := m.scopes.Load(key); ok {
		return v.(*Mesh)
	}
	v, _ := m.scopes.LoadOrStore(key, m.scopedMesh(sc, pod.Namespace))
	return v.(*Mesh)
}

// scopedMesh is the Mesh of one Sidecar scope, for proxies of namespace ns.
func (m *Mesh) scopedMesh(sc *discovery.Sidecar, ns string) *Mesh {
	egress := sc.Egress()
	ports := map[string]map[uint32]bool{} // service key -> ports in scope
	for _, svc := range m.snap.Services {
		for _, sp := range svc.Ports {
			if admits(egress, svc.Namespace, svc.Hostname, sp.Port, ns) {
				addPort(ports, svc.Key(), sp.Port)
			}
		}
	}
	var virtualServices []*discovery.VirtualService
	for _, vs := range m.snap.VirtualServices {
		if !virtualServiceAdmitted(egress, vs, ns) {
			continue
		}
		virtualServices = append(virtualServices, vs)
		for _, d := range vsDestinations(vs) {
			svc := m.snap.ServiceByHost(d.host)
			if svc == nil {
				continue
			}
			for _, sp := range svc.Ports {
				if d.port == 0 || d.port == sp.Port {
					addPort(ports, svc.Key(), sp.Port)
				}
			}
		}
	}
	view := *m.snap // shallow: every list and index but these two is the mesh's
	view.Services = scopedServices(m.snap.Services, ports)
	view.VirtualServices = virtualServices
	sm := NewMesh(&view, m.options...)
	sm.scopes = nil
	sm.explain = m.explain // Explain: route tables and listeners of the scope too
	inScope := func(name string) bool {
		port, _, host, ok := ParseOutboundClusterName(name)
		if !ok {
			return false
		}
		svc := m.snap.ServiceByHost(host)
		return svc != nil && ports[svc.Key()][port]
	}
	sm.outboundClusters = sync.OnceValue(func() []*cluster.Cluster {
		return keep(m.outboundClusters(), func(c *cluster.Cluster) bool { return inScope(c.GetName()) })
	})
	sm.loadAssignments = sync.OnceValue(func() []*endpoint.ClusterLoadAssignment {
		return keep(m.loadAssignments(), func(la *endpoint.ClusterLoadAssignment) bool { return inScope(la.GetClusterName()) })
	})
	return sm
}

func addPort(ports map[string]map[uint32]bool, key string, port uint32) {
	if ports[key] == nil {
		ports[key] = map[uint32]bool{}
	}
	ports[key][port] = true
}

// admits: an egress listener for the port (or for every port) has a host
// that admits the name in namespace svcNS, for a proxy of proxyNS.
func admits(egress []discovery.SidecarEgress, svcNS, name string, port uint32, proxyNS string) bool {
	for _, e := range egress {
		if e.Port != 0 && e.Port != port {
			continue
		}
		for _, h := range e.Hosts {
			if h.Matches(svcNS, name, proxyNS) {
				return true
			}
		}
	}
	return false
}

// virtualServiceAdmitted: one of its hosts is admitted, on any port.
func virtualServiceAdmitted(egress []discovery.SidecarEgress, vs *discovery.VirtualService, proxyNS string) bool {
	for _, h := range vs.Spec.GetHosts() {
		host := discovery.ResolveHost(h, vs.Namespace)
		for _, e := range egress {
			for _, eh := range e.Hosts {
				if eh.Matches(vs.Namespace, host, proxyNS) {
					return true
				}
			}
		}
	}
	return false
}

// vsDestination is a host a VirtualService sends to, and the port (0: the
// destination names none, so any port of the service may be meant).
type vsDestination struct {
	host string
	port uint32
}

// vsDestinations are where a VirtualService sends: its routes' and
// mirrors' destinations, of every protocol.
func vsDestinations(vs *discovery.VirtualService) []vsDestination {
	var out []vsDestination
	add := func(d *networking.Destination) {
		if d.GetHost() != "" {
			out = append(out, vsDestination{discovery.ResolveHost(d.GetHost(), vs.Namespace), d.GetPort().GetNumber()})
		}
	}
	for _, r := range vs.Spec.GetHttp() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination())
		}
		add(r.GetMirror())
		for _, mp := range r.GetMirrors() {
			add(mp.GetDestination())
		}
	}
	for _, r := range vs.Spec.GetTcp() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination())
		}
	}
	for _, r := range vs.Spec.GetTls() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination())
		}
	}
	return out
}

// scopedServices are the services with a port in scope, each with only
// those ports (a copy where some are left out).
func scopedServices(services []*discovery.Service, ports map[string]map[uint32]bool) []*discovery.Service {
	var out []*discovery.Service
	for _, svc := range services {
		in := ports[svc.Key()]
		if len(in) == 0 {
			continue
		}
		if len(in) == len(svc.Ports) {
			out = append(out, svc)
			continue
		}
		c := *svc
		c.Ports = nil
		for _, sp := range svc.Ports {
			if in[sp.Port] {
				c.Ports = append(c.Ports, sp)
			}
		}
		out = append(out, &c)
	}
	return out
}

func keep[T any](items []T, ok func(T) bool) []T {
	var out []T
	for _, it := range items {
		if ok(it) {
			out = append(out, it)
		}
	}
	return out
}
