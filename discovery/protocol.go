package discovery

import (
	"sort"
	"strings"
)

// ProtocolName is the protocol of a service port as Istio selects it:
// appProtocol, else the port name's prefix before "-", lowercased.
func (p ServicePort) ProtocolName() string {
	proto := strings.ToLower(p.AppProtocol)
	if proto == "" {
		proto, _, _ = strings.Cut(strings.ToLower(p.Name), "-")
	}
	return proto
}

// SpeaksHTTP reports whether the mesh speaks HTTP to a service port.
// Unnamed ports are treated as HTTP for now (Istio sniffs). A UDP or SCTP
// port never is: a Service may have port 53 twice, for UDP and TCP
// (kube-dns does), and only the TCP one can get a virtual host.
func (p ServicePort) SpeaksHTTP() bool {
	if p.Protocol == "UDP" || p.Protocol == "SCTP" {
		return false
	}
	switch p.ProtocolName() {
	case "tcp", "tls", "https", "mongo", "mysql", "redis", "udp":
		return false
	}
	return true
}

// ByteStream reports whether a sidecar forwards a service port as a byte
// stream: everything that is not HTTP, save UDP and SCTP, which tcp_proxy
// cannot carry.
func (p ServicePort) ByteStream() bool {
	return !p.SpeaksHTTP() && p.Protocol != "UDP" && p.Protocol != "SCTP"
}

// InboundPort is a port where the mesh sends a pod traffic: the target
// port of a service port that selects the pod.
type InboundPort struct {
	Port uint32
	// HTTP: some service speaks HTTP to it. A port is TCP (a byte stream)
	// only when every service that sends to it does so.
	HTTP bool
}

// InboundPorts are the distinct inbound ports of a pod, in port order: the
// target ports of the service ports of its namespace whose selector
// matches it.
func InboundPorts(services []*Service, pod *Pod) []InboundPort {
	byPort := map[uint32]int{}
	var out []InboundPort
	for _, svc := range services {
		if svc.Namespace != pod.Namespace || len(svc.Selector) == 0 || !selects(svc.Selector, pod.Labels) {
			continue
		}
		for _, sp := range svc.Ports {
			port, ok := pod.ResolveTargetPort(sp)
			if !ok {
				continue
			}
			i, seen := byPort[port]
			if !seen {
				i = len(out)
				byPort[port] = i
				out = append(out, InboundPort{Port: port})
			}
			out[i].HTTP = out[i].HTTP || !sp.ByteStream()
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}
