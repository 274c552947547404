package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/pilotlight/pilotlight/discovery"
)

type hostPort struct {
	host string
	port uint32
	// meshTLS marks an endpoint that accepts mesh mTLS (auto-mTLS).
	meshTLS bool
}

// buildLoadAssignments makes the EDS resource of every outbound cluster:
// the ready endpoints of the service port, narrowed to the subset's labels.
// A PASSTHROUGH cluster (ORIGINAL_DST) has no endpoints and gets none.
// In a mesh made by NewMeshFollowing, a service whose endpoints are those it had in
// the previous mesh keeps that mesh's resources (the same pointers), so
// that only what changed is built, marshaled and sent again.
func (m *Mesh) buildLoadAssignments() []*endpoint.ClusterLoadAssignment {
	var out []*endpoint.ClusterLoadAssignment
	m.assignmentsByService = make(map[string][]*endpoint.ClusterLoadAssignment, len(m.snap.Services))
	for _, svc := range m.snap.Services {
		las := m.previousLoadAssignments(svc)
		if las == nil {
			las = m.serviceLoadAssignments(svc)
		}
		m.assignmentsByService[svc.Key()] = las
		out = append(out, las...)
	}
	m.unchangedFrom = nil // no chain of meshes: each keeps only its own
	sortByName(out, func(c *endpoint.ClusterLoadAssignment) string { return c.ClusterName })
	return out
}

// serviceLoadAssignments are the load assignments of a service's clusters.
func (m *Mesh) serviceLoadAssignments(svc *discovery.Service) []*endpoint.ClusterLoadAssignment {
	var out []*endpoint.ClusterLoadAssignment
	endpoints := m.snap.Endpoints[svc.Key()]
	for _, port := range svc.Ports {
		if !m.isPassthrough(svc.Hostname, "", port.Port) {
			name := OutboundClusterName(port.Port, "", svc.Hostname)
			la := loadAssignment(name, m.readyAddresses(svc, endpoints, port, nil))
			m.explain.loadAssignment(la, svc, port) // explain_cluster.go
			out = append(out, la)
		}
		for _, subset := range m.rules.subsets(svc.Hostname) {
			if m.isPassthrough(svc.Hostname, subset.Name, port.Port) {
				continue
			}
			name := OutboundClusterName(port.Port, subset.Name, svc.Hostname)
			la := loadAssignment(name, m.readyAddresses(svc, endpoints, port, subset.Labels))
			m.explain.loadAssignment(la, svc, port) // explain_cluster.go
			out = append(out, la)
		}
	}
	return out
}

// previousLoadAssignments are the previous mesh's load assignments of a
// service whose endpoints did not change, nor the pods behind them (whether
// an endpoint takes mesh TLS follows its pod), or nil.
func (m *Mesh) previousLoadAssignments(svc *discovery.Service) []*endpoint.ClusterLoadAssignment {
	prev := m.unchangedFrom
	if prev == nil {
		return nil
	}
	prev.loadAssignments() // built, and assignmentsByService with them
	las, ok := prev.assignmentsByService[svc.Key()]
	endpoints := m.snap.Endpoints[svc.Key()]
	if !ok || !discovery.SameEndpoints(prev.snap.Endpoints[svc.Key()], endpoints) {
		return nil
	}
	for _, ep := range endpoints {
		if !discovery.SamePod(prev.snap.Pod(svc.Namespace, ep.PodName), m.snap.Pod(svc.Namespace, ep.PodName)) {
			return nil
		}
	}
	return las
}

func (m *Mesh) isPassthrough(host, subset string, port uint32) bool {
	return isPassthrough(m.rules.clusterPolicy(host, subset, port))
}

// readyAddresses keeps ready endpoints that serve the port and carry all the
// given labels. Not-ready endpoints are left out rather than sent as
// UNHEALTHY: with few endpoints Envoy's panic threshold would route to them.
func (m *Mesh) readyAddresses(svc *discovery.Service, endpoints []*discovery.Endpoint, port discovery.ServicePort, labels map[string]string) []hostPort {
	var out []hostPort
	for _, ep := range endpoints {
		target, ok := ep.Ports[discovery.PortKey(port)]
		if !ok || !ep.Ready || !hasLabels(ep.Labels, labels) {
			continue
		}
		out = append(out, hostPort{ep.Address, target, m.acceptsMeshTLS(svc.Namespace, ep, target)})
	}
	return out
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func loadAssignment(clusterName string, addrs []hostPort) *endpoint.ClusterLoadAssignment {
	lbEndpoints := make([]*endpoint.LbEndpoint, 0, len(addrs))
	for _, a := range addrs {
		lb := &endpoint.LbEndpoint{
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: socketAddress(a.host, a.port)}},
		}
		if a.meshTLS {
			// metadata.filter_metadata["envoy.transport_socket_match"]:
			// the cluster's transport_socket_matches pick mTLS for it.
			lb.Metadata = endpointMetadata()
		}
		lbEndpoints = append(lbEndpoints, lb)
	}
	return &endpoint.ClusterLoadAssignment{
		ClusterName: clusterName,
		Endpoints:   []*endpoint.LocalityLbEndpoints{{LbEndpoints: lbEndpoints}},
	}
}

func socketAddress(host string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address:       host,
		PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}
