package translate

import (
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// What clusters, endpoints and listeners are translated from (cluster.go,
// destinationrule*.go, endpoints.go, listener.go).

// policyParts are the parts of a traffic policy and the cluster fields
// each one sets (destinationrule.go).
var policyParts = []struct {
	part   string
	fields []string
	set    func(*cluster.Cluster) bool
}{
	{"connectionPool", []string{"circuit_breakers"}, func(c *cluster.Cluster) bool { return c.CircuitBreakers != nil }},
	{"outlierDetection", []string{"outlier_detection"}, func(c *cluster.Cluster) bool { return c.OutlierDetection != nil }},
	{"loadBalancer", []string{"lb_policy"}, func(*cluster.Cluster) bool { return true }},
	{"tls", []string{"transport_socket"}, func(c *cluster.Cluster) bool { return c.TransportSocket != nil }},
}

// outboundCluster notes a service port's cluster (and subset's): its name
// from the Service's port and the DestinationRule's subset, each policy
// field from the DestinationRule part that applies, with Istio's merge
// order (mergeSubsetPolicy): the subset's port-level settings, the
// subset's policy, the rule's port-level settings, the rule's policy.
func (p *provenance) outboundCluster(c *cluster.Cluster, r *rules, host, subset string, port uint32) {
	if p == nil {
		return
	}
	svc := p.snap.ServiceByHost(host)
	dr := r.destinationRules[host]
	var name []Origin
	if svc != nil {
		name = append(name, objectOrigin("Service", svc.Meta, servicePortField(svc, port)))
	}
	subsetIndex := -1
	if dr != nil && subset != "" {
		for k, s := range dr.Spec.GetSubsets() {
			if s.GetName() == subset {
				subsetIndex = k
				name = append(name, objectOrigin("DestinationRule", dr.Meta, fmt.Sprintf("spec.subsets[%d]", k)))
			}
		}
	}
	p.note(c, "name", name...)
	p.note(c, "eds_cluster_config", defaultOrigin("endpoints come over EDS from the Service's ready pods"))
	for _, part := range policyParts {
		if !part.set(c) {
			continue
		}
		origin := defaultOrigin("Istio's default (no DestinationRule sets " + part.part + ")")
		if dr != nil {
			if field := policyField(dr, subsetIndex, port, part.part); field != "" {
				origin = objectOrigin("DestinationRule", dr.Meta, field)
			}
		}
		for _, f := range part.fields {
			p.note(c, f, origin)
		}
	}
}

// policyField is the DestinationRule field of one policy part for a
// cluster, "" when none sets it.
func policyField(dr *discovery.DestinationRule, subsetIndex int, port uint32, part string) string {
	if subsetIndex >= 0 {
		sub := dr.Spec.GetSubsets()[subsetIndex].GetTrafficPolicy()
		base := fmt.Sprintf("spec.subsets[%d].trafficPolicy", subsetIndex)
		if k := portLevelIndex(sub, port); k >= 0 {
			// Port-level settings replace all four parts, set or not.
			return fmt.Sprintf("%s.portLevelSettings[%d].%s", base, k, part)
		}
		if partSet(sub, part) {
			return base + "." + part
		}
	}
	top := dr.Spec.GetTrafficPolicy()
	if k := portLevelIndex(top, port); k >= 0 {
		return fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].%s", k, part)
	}
	if partSet(top, part) {
		return "spec.trafficPolicy." + part
	}
	return ""
}

func portLevelIndex(tp *networking.TrafficPolicy, port uint32) int {
	for k, pl := range tp.GetPortLevelSettings() {
		if pl.GetPort().GetNumber() == port {
			return k
		}
	}
	return -1
}

func partSet(tp *networking.TrafficPolicy, part string) bool {
	switch part {
	case "connectionPool":
		return tp.GetConnectionPool() != nil
	case "outlierDetection":
		return tp.GetOutlierDetection() != nil
	case "loadBalancer":
		return tp.GetLoadBalancer() != nil
	case "tls":
		return tp.GetTls() != nil
	}
	return false
}

// loadAssignment notes each endpoint of a service port's cluster: the pod
// behind the address, and the Service port whose target port it serves.
func (p *provenance) loadAssignment(la *endpoint.ClusterLoadAssignment, svc *discovery.Service, port discovery.ServicePort) {
	if p == nil {
		return
	}
	pods := map[string]string{}
	for _, ep := range p.snap.Endpoints[svc.Key()] {
		pods[ep.Address] = ep.PodName
	}
	for _, locality := range la.GetEndpoints() {
		for k, lb := range locality.GetLbEndpoints() {
			addr := lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
			origins := []Origin{objectOrigin("Service", svc.Meta, servicePortField(svc, port.Port)+".targetPort")}
			if pod := pods[addr]; pod != "" {
				origins = append([]Origin{objectOrigin("Pod", discovery.Meta{Namespace: svc.Namespace, Name: pod}, "status.podIP")}, origins...)
			}
			p.note(la, fmt.Sprintf("endpoints[0].lb_endpoints[%d]", k), origins...)
		}
	}
}

// sidecarListeners notes where a sidecar's listeners bind: the pod's local
// address (its annotation) for the outbound proxy and TCP services, the
// pod IP and the target port of the Services that select it for inbound.
func (p *provenance) sidecarListeners(pod *discovery.Pod, listeners []*listener.Listener) {
	if p == nil {
		return
	}
	local := objectOrigin("Pod", pod.Meta, "metadata.annotations["+discovery.LocalAddressAnnotation+"]")
	if !pod.LocalMode() {
		local = defaultOrigin("no local address: the pod's 127.0.0.1")
	}
	for _, l := range listeners {
		sa := l.GetAddress().GetSocketAddress()
		if sa.GetAddress() != pod.IP {
			p.note(l, "address", local)
			continue
		}
		origins := []Origin{objectOrigin("Pod", pod.Meta, "status.podIP")}
		for _, svc := range p.snap.Services {
			if svc.Namespace != pod.Namespace || len(svc.Selector) == 0 || !hasLabels(pod.Labels, svc.Selector) {
				continue
			}
			for k, sp := range svc.Ports {
				if target, ok := pod.ResolveTargetPort(sp); ok && target == sa.GetPortValue() {
					origins = append(origins, objectOrigin("Service", svc.Meta, fmt.Sprintf("spec.ports[%d].targetPort", k)))
				}
			}
		}
		p.note(l, "address", origins...)
	}
}
