package discovery

// Port checks across objects: what one object's ports mean next to the
// others' (CheckSharedTCPPorts) and where a gateway listens (GatewayPort).

import (
	"fmt"
)

// IsTLSPassthrough reports whether a service port carries TLS that the
// mesh passes through (Istio's protocols tls and https), told apart by SNI.
func (p ServicePort) IsTLSPassthrough() bool {
	return p.ProtocolName() == "tls" || p.ProtocolName() == "https"
}

// CheckSharedTCPPorts reports the plain TCP service ports that sidecars
// cannot reach. A sidecar has no traffic capture: it listens at each TCP
// service port on the pod's local address, and a plain TCP connection
// says nothing about the service it is for. So of several services with a
// TCP port of one number, only the first by namespace/name is reached at
// localhost:port; each other one is reported, naming the one that wins.
// (TLS services share a port: they are told apart by SNI.) The Services
// are still served: their other ports, and this port from the gateway.
func CheckSharedTCPPorts(s *Snapshot) []Problem {
	first := map[uint32]*Service{}
	var problems []Problem
	for _, svc := range s.Services { // sorted by namespace/name
		for i, sp := range svc.Ports {
			if !sp.ByteStream() || sp.IsTLSPassthrough() {
				continue
			}
			winner, taken := first[sp.Port]
			if !taken {
				first[sp.Port] = svc
				continue
			}
			if winner == svc {
				continue
			}
			problems = append(problems, Problem{Kind: "Service", Name: svc.Key(), Field: fieldIndex("spec.ports", i) + ".port",
				Reason: fmt.Sprintf("TCP port %d is also the TCP port of %s: sidecars listen once per port on their local address and a TCP connection does not name its service, "+
					"so localhost:%d reaches %s (the first by namespace/name), never this Service; give this Service a port number of its own "+
					"(its targetPort can stay %d), see README, TCP services", sp.Port, winner.Key(), sp.Port, winner.Key(), sp.Port)})
		}
	}
	return problems
}

// GatewayPort is the port a gateway pod's Envoy listens on for a Gateway
// server port, as in Istio: the target port, on this pod, of the port with
// that number of a Service that selects the pod (the standard ingress
// gateway Service maps 80 to 8080, so that the gateway runs unprivileged);
// the server port itself when no such Service has it.
func (s *Snapshot) GatewayPort(pod *Pod, serverPort uint32) uint32 {
	for _, svc := range s.Services {
		if svc.Namespace != pod.Namespace || len(svc.Selector) == 0 || !selects(svc.Selector, pod.Labels) {
			continue
		}
		for _, sp := range svc.Ports {
			if sp.Port != serverPort || !(sp.Protocol == "" || sp.Protocol == "TCP") {
				continue
			}
			if target, ok := pod.ResolveTargetPort(sp); ok {
				return target
			}
		}
	}
	return serverPort
}

// CheckGatewayPorts reports Gateway servers that cannot listen: two server
// ports that a gateway pod's Service maps to one container port (80 and
// 8080 both to 8080, say) cannot both have the pod's listener there. As
// translation does, the lower server port keeps it.
func CheckGatewayPorts(s *Snapshot) []Problem {
	type server struct {
		gw    *Gateway
		index int
	}
	reported := map[server]bool{}
	var problems []Problem
	for _, pod := range s.Pods {
		byServerPort := map[uint32][]server{}
		for _, gw := range s.Gateways {
			if len(gw.Spec.GetSelector()) == 0 || !labelsMatch(pod.Labels, gw.Spec.GetSelector()) {
				continue
			}
			for i, srv := range gw.Spec.GetServers() {
				byServerPort[srv.GetPort().GetNumber()] = append(byServerPort[srv.GetPort().GetNumber()], server{gw, i})
			}
		}
		owner := map[uint32]uint32{} // container port -> the server port listening there
		for _, sp := range sortedNames(byServerPort) {
			bind := s.GatewayPort(pod, sp)
			first, taken := owner[bind]
			if !taken {
				owner[bind] = sp
				continue
			}
			for _, srv := range byServerPort[sp] {
				if reported[srv] {
					continue
				}
				reported[srv] = true
				problems = append(problems, Problem{Kind: "Gateway", Name: srv.gw.Key(), Field: fieldIndex("spec.servers", srv.index) + ".port.number",
					Reason: fmt.Sprintf("port %d reaches container port %d of gateway pod %s through its Service, as port %d does: that port listens for port %d, this server is not served", sp, bind, pod.Key(), first, first)})
			}
		}
	}
	return problems
}
