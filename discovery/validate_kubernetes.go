package discovery

// Validation of the Kubernetes objects the mesh is built from: Services,
// Pods and EndpointSlices. In a cluster the API server has checked most of
// this already; a folder has no API server. What is checked is what would
// reach Envoy as syntax: a port beyond 65535 in a cluster or endpoint, an
// address that is not an IP, two ports of one Service with one number (two
// virtual hosts with the same domain).

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ValidateService returns the problems of a Service; none means it can be
// served.
func ValidateService(svc *corev1.Service) []Problem {
	p := &problemList{kind: "Service", name: svc.Namespace + "/" + svc.Name}
	// A Service name is a DNS-1035 label (it is a DNS name of its own);
	// checkObjectName already reported one that is not even a subdomain.
	if len(validation.IsDNS1123Subdomain(svc.Name)) == 0 {
		if errs := validation.IsDNS1035Label(svc.Name); len(errs) > 0 {
			p.add("metadata.name", "%q is not a valid Service name: %s", svc.Name, strings.Join(errs, "; "))
		}
	}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		p.add("spec.type", "ExternalName Services are not supported by pilotlight: the mesh routes to the pods or EndpointSlices of a Service")
	case svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP:
		p.warn("spec.sessionAffinity", "ClientIP affinity is not implemented by pilotlight: ignored; a DestinationRule with loadBalancer.consistentHash.useSourceIp keeps a client on one pod")
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		if _, ok := clusterIPv4(ip); !ok {
			p.warn("spec.clusterIP", "%q is not an IPv4 address (or None); ignored", ip)
		}
	}
	seen := map[string]int{}  // "port/protocol" -> index
	names := map[string]int{} // port name -> index
	for i, port := range svc.Spec.Ports {
		path := fieldIndex("spec.ports", i)
		checkPortNumber(p, path+".port", int64(port.Port))
		protocol := port.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		switch protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			p.add(path+".protocol", "protocol %q is not TCP, UDP or SCTP", port.Protocol)
		}
		key := fmt.Sprintf("%d/%s", port.Port, protocol)
		if j, dup := seen[key]; dup {
			p.add(path+".port", "port %d (%s) is already spec.ports[%d]", port.Port, protocol, j)
		} else {
			seen[key] = i
		}
		checkServicePortName(p, path+".name", port.Name, len(svc.Spec.Ports), names, i)
		checkTargetPort(p, path+".targetPort", port.TargetPort)
	}
	return p.list
}

// checkServicePortName: as in Kubernetes, a port name is a DNS-1123 label,
// required when there are several ports, and unique. Endpoints are matched
// to service ports by it.
func checkServicePortName(p *problemList, path, name string, ports int, names map[string]int, i int) {
	switch {
	case name == "" && ports > 1:
		p.add(path, "a Service with several ports must name each")
	case name == "":
	case len(validation.IsDNS1123Label(name)) > 0:
		p.add(path, "%q is not a valid port name: %s", name, strings.Join(validation.IsDNS1123Label(name), "; "))
	default:
		if j, dup := names[name]; dup {
			p.add(path, "port name %q is already used by spec.ports[%d]", name, j)
		} else {
			names[name] = i
		}
	}
}

// checkTargetPort: a number in 1..65535 (0 or unset: the service port), or
// the name of a container port.
func checkTargetPort(p *problemList, path string, tp intstr.IntOrString) {
	if tp.Type == intstr.String {
		if errs := validation.IsValidPortName(tp.StrVal); len(errs) > 0 {
			p.add(path, "%q is not a port number nor a valid port name: %s", tp.StrVal, strings.Join(errs, "; "))
		}
		return
	}
	if tp.IntVal != 0 {
		checkPortNumber(p, path, int64(tp.IntVal))
	}
}

// ValidatePod returns the problems of a Pod; none means it can be served.
// Its address becomes endpoints and, for its own sidecar, listeners.
func ValidatePod(pod *corev1.Pod) []Problem {
	p := &problemList{kind: "Pod", name: pod.Namespace + "/" + pod.Name}
	if ip := pod.Status.PodIP; ip != "" {
		checkIP(p, "status.podIP", ip)
	}
	if a, ok := pod.Annotations[LocalAddressAnnotation]; ok {
		if _, err := ParseIP(a); err != nil {
			p.add(fieldKey("metadata.annotations", LocalAddressAnnotation), "the local address must be an IP address (the pod's loopback address in local mode, e.g. 127.20.0.1): %v", err)
		}
	}
	for i, c := range pod.Spec.Containers {
		for j, cp := range c.Ports {
			path := fieldIndex(fieldIndex("spec.containers", i)+".ports", j)
			checkPortNumber(p, path+".containerPort", int64(cp.ContainerPort))
			if cp.Name != "" {
				if errs := validation.IsValidPortName(cp.Name); len(errs) > 0 {
					p.add(path+".name", "%q is not a valid port name: %s", cp.Name, strings.Join(errs, "; "))
				}
			}
		}
	}
	return p.list
}

// ValidateEndpointSlice returns the problems of an EndpointSlice; none means
// its endpoints can be served. Endpoints are IP addresses: a slice of FQDNs
// (an ExternalName-like service) cannot be an Envoy endpoint.
func ValidateEndpointSlice(slice *discoveryv1.EndpointSlice) []Problem {
	p := &problemList{kind: "EndpointSlice", name: slice.Namespace + "/" + slice.Name}
	switch slice.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
	case discoveryv1.AddressTypeFQDN:
		p.add("addressType", "FQDN endpoints are not supported: the mesh routes to IP addresses")
	default:
		p.add("addressType", "address type %q is not IPv4 or IPv6", slice.AddressType)
	}
	for i, e := range slice.Endpoints {
		for j, addr := range e.Addresses {
			path := fieldIndex(fieldIndex("endpoints", i)+".addresses", j)
			a, err := ParseIP(addr)
			switch {
			case err != nil:
				p.add(path, "%v", err)
			case slice.AddressType == discoveryv1.AddressTypeIPv4 && !a.Is4():
				p.add(path, "%q is not an IPv4 address, as addressType says", addr)
			case slice.AddressType == discoveryv1.AddressTypeIPv6 && !a.Is6():
				p.add(path, "%q is not an IPv6 address, as addressType says", addr)
			}
		}
	}
	for i, port := range slice.Ports {
		if port.Port != nil {
			checkPortNumber(p, fieldIndex("ports", i)+".port", int64(*port.Port))
		}
	}
	return p.list
}
