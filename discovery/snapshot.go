// Package discovery turns what the mesh is made of (Kubernetes objects and
// Istio rules, from a folder or a cluster) into one immutable Snapshot.
//
// The Snapshot holds no Envoy types: it is the control plane's model of the
// mesh, read by translate and never written after it is built.
package discovery

import (
	"fmt"
	"sort"

	networking "istio.io/api/networking/v1"
)

// DefaultDomainSuffix is the cluster domain used to build service FQDNs.
const DefaultDomainSuffix = "cluster.local"

// LocalAddressAnnotation marks a pod that runs in local mode (no iptables):
// its value is the loopback address that plays the pod's "localhost". The app
// listens there, and the sidecar binds its outbound and admin ports there.
const LocalAddressAnnotation = "sidecar.pilotlight.io/local-address"

// Snapshot is one consistent view of the mesh. All slices are sorted by
// namespace then name, so that translation output is deterministic.
type Snapshot struct {
	// Version changes whenever anything in the snapshot changes.
	Version uint64

	Services         []*Service
	Pods             []*Pod
	VirtualServices  []*VirtualService
	DestinationRules []*DestinationRule
	Gateways         []*Gateway
	// PeerAuthentications set the mutual TLS mode of workloads.
	PeerAuthentications []*PeerAuthentication
	// Sidecars scope what sidecars may reach (sidecar.go).
	Sidecars []*Sidecar
	// Telemetries are Istio Telemetry objects: their tracing settings.
	Telemetries []*Telemetry
	// Secrets holds the TLS material of Kubernetes Secrets, for gateway
	// servers' tls.credentialName.
	Secrets []*Secret
	// RateLimitPolicies (ratelimit.pilotlight.io) and EnvoyFilters
	// (networking.istio.io/v1alpha3): ratelimitpolicy.go, envoyfilter.go.
	RateLimitPolicies []*RateLimitPolicy
	EnvoyFilters      []*EnvoyFilter

	// AuthorizationPolicies and RequestAuthentications: security.istio.io.
	AuthorizationPolicies  []*AuthorizationPolicy
	RequestAuthentications []*RequestAuthentication
	// RootNamespace is Istio's meshConfig.rootNamespace ("" reads as
	// DefaultRootNamespace; see Root).
	RootNamespace string
	// JWKS holds the key sets the control plane fetched for the jwksUri of
	// RequestAuthentication rules, by JWKSKey; set by the authn stage
	// (authn.JWKSResolver), which also reports the fetches that failed. A
	// rule whose keys are not here has none: its tokens are rejected.
	JWKS map[string]string

	// Endpoints of each service, keyed by the service's Key().
	Endpoints map[string][]*Endpoint

	// Origins maps "Kind namespace/name" to the document an object came
	// from ("file.yaml#2"), in folder mode: explain's file:line.
	Origins map[string]string

	// Problems found while building the snapshot: objects that were skipped
	// (or parts of them that were ignored, or an older version of them
	// served instead) and why.
	Problems []Problem
	// Notices are what a source says about its input that is not a
	// problem (Level info or warning): the kinds a folder holds that the
	// mesh has no use for, an empty folder.
	Notices []Problem

	servicesByHost map[string]*Service
	sidecarsByNS   map[string][]*Sidecar
	podsByKey      map[string]*Pod
	secretsByKey   map[string]*Secret

	authorizationPoliciesByNS  map[string][]*AuthorizationPolicy
	requestAuthenticationsByNS map[string][]*RequestAuthentication
}

// Meta identifies a Kubernetes-style object.
type Meta struct {
	Kind        string
	Name        string
	Namespace   string
	Labels      map[string]string
	Annotations map[string]string
}

// Key is "namespace/name".
func (m Meta) Key() string { return m.Namespace + "/" + m.Name }

// Service is a Kubernetes Service that the mesh routes to.
type Service struct {
	Meta
	// Hostname is the FQDN, e.g. catalogue.sock-shop.svc.cluster.local.
	Hostname string
	Ports    []ServicePort
	Selector map[string]string
	// ClusterIP is spec.clusterIP when it is an IPv4 address: where a
	// captured (iptables-mode) sidecar recognises a TCP service's traffic.
	// Empty for a headless service ("None") and when a folder gives none.
	ClusterIP string
}

// HasPort reports whether the service has a port with this number.
func (s *Service) HasPort(number uint32) bool {
	for _, sp := range s.Ports {
		if sp.Port == number {
			return true
		}
	}
	return false
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name     string
	Port     uint32
	Protocol string // TCP, UDP, SCTP (Kubernetes); HTTP is inferred from name or appProtocol.
	// TargetPort is either a number (TargetPortNumber) or a container
	// port name (TargetPortName) resolved per pod.
	TargetPortNumber uint32
	TargetPortName   string
	AppProtocol      string
}

// Pod is a workload that may run a sidecar.
type Pod struct {
	Meta
	// UID tells this pod from an earlier one of the same name: a proxy's
	// Kubernetes token is bound to one UID.
	UID            string
	IP             string
	Ready          bool
	ServiceAccount string
	ContainerPorts []ContainerPort
}

// ContainerPort is a named port a pod's container listens on.
type ContainerPort struct {
	Name string
	Port uint32
}

// LocalAddress is the pod's localhost: 127.0.0.1 in a real pod with iptables
// capture, or the annotated loopback address in local mode.
func (p *Pod) LocalAddress() string {
	if a := p.Annotations[LocalAddressAnnotation]; a != "" {
		return a
	}
	return "127.0.0.1"
}

// LocalMode reports whether the pod runs without traffic capture.
func (p *Pod) LocalMode() bool { return p.Annotations[LocalAddressAnnotation] != "" }

// ResolveTargetPort returns the container port a service port sends to on
// this pod, and false when a named target port is not declared by the pod.
func (p *Pod) ResolveTargetPort(sp ServicePort) (uint32, bool) {
	if sp.TargetPortName == "" {
		if sp.TargetPortNumber != 0 {
			return sp.TargetPortNumber, true
		}
		return sp.Port, true
	}
	for _, cp := range p.ContainerPorts {
		if cp.Name == sp.TargetPortName {
			return cp.Port, true
		}
	}
	return 0, false
}

// Endpoint is one address serving one port of a service.
type Endpoint struct {
	Address string
	// Ports maps the service port name (or its number as a string when it
	// has no name) to the endpoint's port.
	Ports map[string]uint32
	// Labels are the labels of the pod behind the endpoint, used for
	// DestinationRule subsets.
	Labels  map[string]string
	PodName string
	Ready   bool
}

// PortKey is how a service port is looked up in Endpoint.Ports.
func PortKey(sp ServicePort) string {
	if sp.Name != "" {
		return sp.Name
	}
	return fmt.Sprint(sp.Port)
}

// VirtualService is an Istio VirtualService in any served API version.
type VirtualService struct {
	Meta
	Spec *networking.VirtualService
}

// DestinationRule is an Istio DestinationRule in any served API version.
type DestinationRule struct {
	Meta
	Spec *networking.DestinationRule
}

// Gateway is an Istio Gateway in any served API version.
type Gateway struct {
	Meta
	Spec *networking.Gateway
}

// Secret is the TLS material of a Kubernetes Secret: a kubernetes.io/tls
// Secret (tls.crt, tls.key, ca.crt) or an Opaque one with Istio's keys
// (cert, key, cacert). PEM, checked to form a key pair (see NewSecret).
type Secret struct {
	Meta
	CertChain  []byte
	PrivateKey []byte
	CACert     []byte // optional: CA certificates to verify clients with
}

// Hostname builds the FQDN of a service.
func Hostname(name, namespace, domainSuffix string) string {
	return name + "." + namespace + ".svc." + domainSuffix
}

// Seal sorts the snapshot's objects and builds its look-up indexes. A source
// calls it once, before publishing; nothing may change the snapshot after.
func (s *Snapshot) Seal() *Snapshot {
	SortByKey(s.Services)
	SortByKey(s.Pods)
	SortByKey(s.VirtualServices)
	SortByKey(s.DestinationRules)
	SortByKey(s.Gateways)
	SortByKey(s.PeerAuthentications)
	SortByKey(s.Sidecars)
	s.sidecarsByNS = indexSidecars(s.Sidecars)
	SortByKey(s.Telemetries)
	SortByKey(s.Secrets)
	SortByKey(s.RateLimitPolicies)
	SortByKey(s.EnvoyFilters)
	SortByKey(s.AuthorizationPolicies)
	SortByKey(s.RequestAuthentications)
	sortProblems(s.Problems)
	sortProblems(s.Notices)
	s.servicesByHost = make(map[string]*Service, len(s.Services))
	for _, svc := range s.Services {
		s.servicesByHost[svc.Hostname] = svc
	}
	s.podsByKey = make(map[string]*Pod, len(s.Pods))
	for _, p := range s.Pods {
		s.podsByKey[p.Key()] = p
	}
	s.authorizationPoliciesByNS = byNamespace(s.AuthorizationPolicies, func(p *AuthorizationPolicy) string { return p.Namespace })
	s.requestAuthenticationsByNS = byNamespace(s.RequestAuthentications, func(r *RequestAuthentication) string { return r.Namespace })
	s.secretsByKey = make(map[string]*Secret, len(s.Secrets))
	for _, sec := range s.Secrets {
		s.secretsByKey[sec.Key()] = sec
	}
	return s
}

// ServiceByHost finds a service by FQDN.
func (s *Snapshot) ServiceByHost(host string) *Service { return s.servicesByHost[host] }

// ServicesIn lists the services of one namespace (a part of Services,
// which Seal sorted by namespace/name: keys with the prefix "ns/" are
// contiguous there). Read it, never change it.
func (s *Snapshot) ServicesIn(namespace string) []*Service {
	from := sort.Search(len(s.Services), func(i int) bool { return s.Services[i].Key() >= namespace+"/" })
	to := sort.Search(len(s.Services), func(i int) bool { return s.Services[i].Key() >= namespace+"0" }) // '0' follows '/'
	return s.Services[from:to:to]
}

// Pod finds a pod by namespace and name.
func (s *Snapshot) Pod(namespace, name string) *Pod { return s.podsByKey[namespace+"/"+name] }

// Secret finds a TLS secret by namespace and name.
func (s *Snapshot) Secret(namespace, name string) *Secret {
	return s.secretsByKey[namespace+"/"+name]
}

// SortByKey sorts objects by namespace/name, keeping the order of equal
// keys. Each key is made once, and input that is already sorted (a source
// lists in order) costs one pass.
func SortByKey[T interface{ Key() string }](items []T) {
	keys := make([]string, len(items))
	sorted := true
	for i, item := range items {
		keys[i] = item.Key()
		sorted = sorted && (i == 0 || keys[i-1] <= keys[i])
	}
	if !sorted {
		sort.Stable(byKey[T]{items, keys})
	}
}

type byKey[T any] struct {
	items []T
	keys  []string
}

func (b byKey[T]) Len() int           { return len(b.items) }
func (b byKey[T]) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey[T]) Swap(i, j int) {
	b.items[i], b.items[j] = b.items[j], b.items[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}
