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
func (m *Mesh) buildLoadAssignments() []*endpoint.ClusterLoadAssignment {
	var out []*endpoint.ClusterLoadAssignment
	for _, svc := range m.snap.Services {
		endpoints := m.snap.Endpoints[svc.Key()]
		for _, port := range svc.Ports {
			if !m.isPassthrough(svc.Hostname, "", port.Port) {
				name := OutboundClusterName(port.Port, "", svc.Hostname)
				out = append(out, loadAssignment(name, m.readyAddresses(svc, endpoints, port, nil)))
			}
			for _, subset := range m.rules.subsets(svc.Hostname) {
				if m.isPassthrough(svc.Hostname, subset.Name, port.Port) {
					continue
				}
				name := OutboundClusterName(port.Port, subset.Name, svc.Hostname)
				out = append(out, loadAssignment(name, m.readyAddresses(svc, endpoints, port, subset.Labels)))
			}
		}
	}
	sortByName(out, func(c *endpoint.ClusterLoadAssignment) string { return c.ClusterName })
	return out
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
