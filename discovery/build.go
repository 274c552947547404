package discovery

import (
	"net"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Input is what a source read: the Kubernetes objects and Istio rules of
// the mesh as they are now, before any validation. A source must not change
// an object once handed over (informers and the folder reader replace
// objects, never change them): a Builder remembers what it found out about
// an object by its pointer, for the next build.
type Input struct {
	Services         []*corev1.Service
	Pods             []*corev1.Pod
	EndpointSlices   []*discoveryv1.EndpointSlice
	Secrets          []*corev1.Secret
	VirtualServices  []*VirtualService
	DestinationRules []*DestinationRule
	Gateways         []*Gateway

	PeerAuthentications    []*PeerAuthentication
	Sidecars               []*Sidecar
	EnvoyFilters           []*EnvoyFilter
	RateLimitPolicies      []*RateLimitPolicy
	AuthorizationPolicies  []*AuthorizationPolicy
	RequestAuthentications []*RequestAuthentication
	Telemetries            []*Telemetry
	// RootNamespace is Istio's meshConfig.rootNamespace ("" reads as
	// DefaultRootNamespace).
	RootNamespace string

	// Unreadable are the problems of objects that are in the source but
	// whose current version could not be decoded (a misspelt field in a
	// file). With Kind and Name set, the object's last good version is
	// served instead; see lastgood.go.
	Unreadable []Problem
}

// Builder turns a source's inputs into snapshots, one build after another,
// so that every source (folder, cluster) builds the same objects into the
// same snapshot. It remembers the last valid version of every object
// (lastgood.go). One per source; not safe for concurrent use.
type Builder struct {
	h *history
}

// NewBuilder returns a Builder that has seen nothing yet.
func NewBuilder() *Builder { return &Builder{h: newHistory()} }

// Build validates in and turns it into the mesh model: services, pods, the
// endpoints of each service, TLS secrets and Istio rules. An invalid object
// is left out, or replaced by its last good version. The Problems name Kind
// and Name; the caller fills in Source, sets Version, and seals.
//
// Services, pods and slices are checked before the endpoints are derived
// from them, so that an endpoint never carries an address or port that
// Envoy would reject.
func (b *Builder) Build(in Input) *Snapshot {
	ps := newPass(b.h, in.Unreadable)
	services := keepObjects(ps, "Service", in.Services, ValidateService)
	pods := keepObjects(ps, "Pod", in.Pods, ValidatePod)
	slices := keepObjects(ps, "EndpointSlice", in.EndpointSlices, ValidateEndpointSlice)
	s := build(ps, services, pods, slices)
	s.Secrets = tlsSecrets(ps, in.Secrets)
	s.VirtualServices, s.DestinationRules, s.Gateways = in.VirtualServices, in.DestinationRules, in.Gateways
	s.PeerAuthentications, s.Sidecars = in.PeerAuthentications, in.Sidecars
	s.EnvoyFilters, s.RateLimitPolicies = in.EnvoyFilters, in.RateLimitPolicies
	s.AuthorizationPolicies, s.RequestAuthentications = in.AuthorizationPolicies, in.RequestAuthentications
	s.Telemetries = in.Telemetries
	s.RootNamespace = in.RootNamespace
	ps.validateRules(s)
	ps.problems = append(ps.problems, CheckSharedTCPPorts(s)...)
	ps.problems = append(ps.problems, CheckGatewayPorts(s)...)
	s.Problems = ps.finish()
	return s
}

// build derives the services, pods and endpoints of valid Kubernetes
// objects. A Service or Pod unchanged since the last build keeps its
// snapshot form (they are immutable).
func build(ps *pass, services []*corev1.Service, pods []*corev1.Pod, slices []*discoveryv1.EndpointSlice) *Snapshot {
	s := &Snapshot{Endpoints: map[string][]*Endpoint{}, Services: make([]*Service, 0, len(services)), Pods: make([]*Pod, 0, len(pods))}
	for _, svc := range services {
		s.Services = append(s.Services, model(ps, svc, toService))
	}
	podsByKey := make(map[string]*Pod, len(pods))
	podsByNamespace := map[string][]*corev1.Pod{}
	for _, p := range pods {
		pod := model(ps, p, toPod)
		s.Pods = append(s.Pods, pod)
		podsByKey[pod.Key()] = pod
		podsByNamespace[p.Namespace] = append(podsByNamespace[p.Namespace], p)
	}
	slicesByService := map[string][]*discoveryv1.EndpointSlice{}
	for _, slice := range slices {
		key := slice.Namespace + "/" + slice.Labels[discoveryv1.LabelServiceName]
		slicesByService[key] = append(slicesByService[key], slice)
	}
	for _, svc := range s.Services {
		eps, found := ps.sliceEndpoints(svc, slicesByService[svc.Key()], podsByKey)
		if !found {
			eps = podEndpoints(svc, podsByNamespace[svc.Namespace], podsByKey)
			sortEndpoints(eps)
		}
		if len(eps) > 0 {
			s.Endpoints[svc.Key()] = eps
		}
	}
	return s
}

// endpointsMemo is a service's endpoints made from its EndpointSlices, and
// what they were made of: the service, its slices and the pods they name
// (the same objects: sources hand over unchanged ones again). An endpoint
// change rebuilds the endpoints of the services it touched, not of all.
type endpointsMemo struct {
	svc    *Service
	slices []*discoveryv1.EndpointSlice
	pods   []podSeen
	eps    []*Endpoint // sorted; shared by the snapshots, never changed
	seen   uint64
}

// podSeen is a pod an endpoint named, as it was looked up (nil: none).
type podSeen struct {
	key string
	pod *Pod
}

// sliceEndpoints are the service's endpoints from its slices (sorted), the
// last build's when nothing they are made of changed.
func (ps *pass) sliceEndpoints(svc *Service, svcSlices []*discoveryv1.EndpointSlice, pods map[string]*Pod) ([]*Endpoint, bool) {
	key := svc.Key()
	if m := ps.h.endpoints[key]; m != nil && m.svc == svc && slices.Equal(m.slices, svcSlices) && sameLookups(m.pods, pods) {
		m.seen = ps.h.build
		return m.eps, true
	}
	var seen []podSeen
	lookup := func(k string) *Pod {
		pod := pods[k]
		seen = append(seen, podSeen{k, pod})
		return pod
	}
	eps, found := sliceEndpoints(svc, svcSlices, lookup)
	if !found {
		delete(ps.h.endpoints, key)
		return nil, false
	}
	sortEndpoints(eps)
	ps.h.endpoints[key] = &endpointsMemo{svc: svc, slices: svcSlices, pods: seen, eps: eps, seen: ps.h.build}
	return eps, true
}

func sameLookups(seen []podSeen, pods map[string]*Pod) bool {
	for _, p := range seen {
		if pods[p.key] != p.pod {
			return false
		}
	}
	return true
}

// model is the snapshot form of a Kubernetes object, made by to, or the one
// made in an earlier build when the object is the same (the same pointer).
func model[K comparable, M any](ps *pass, obj K, to func(K) M) M {
	if m := ps.h.memo[obj]; m != nil {
		if cached, ok := m.model.(M); ok {
			return cached
		}
		made := to(obj)
		m.model = made
		return made
	}
	return to(obj)
}

// toService is the snapshot form of a valid Service. A spec.clusterIP that
// is not an IPv4 address is left out (ValidateService warns of it).
func toService(svc *corev1.Service) *Service {
	out := &Service{
		Meta:     MetaOf("Service", svc),
		Hostname: Hostname(svc.Name, svc.Namespace, DefaultDomainSuffix),
		Selector: svc.Spec.Selector,
	}
	for _, p := range svc.Spec.Ports {
		out.Ports = append(out.Ports, toServicePort(p))
	}
	if ip, ok := clusterIPv4(svc.Spec.ClusterIP); ok {
		out.ClusterIP = ip
	}
	return out
}

// clusterIPv4 is a Service's cluster IP when it is an IPv4 address.
func clusterIPv4(clusterIP string) (string, bool) {
	if ip := net.ParseIP(clusterIP); ip != nil && ip.To4() != nil {
		return ip.To4().String(), true
	}
	return "", false
}

func toServicePort(p corev1.ServicePort) ServicePort {
	sp := ServicePort{
		Name:     p.Name,
		Port:     uint32(p.Port),
		Protocol: string(p.Protocol),
	}
	if sp.Protocol == "" {
		sp.Protocol = string(corev1.ProtocolTCP) // the API server's default
	}
	// targetPort is a number or the name of a container port; unset means
	// the same number as the service port (ResolveTargetPort handles that).
	if p.TargetPort.Type == intstr.String {
		sp.TargetPortName = p.TargetPort.StrVal
	} else if p.TargetPort.IntVal > 0 {
		sp.TargetPortNumber = uint32(p.TargetPort.IntVal)
	}
	if p.AppProtocol != nil {
		sp.AppProtocol = *p.AppProtocol
	}
	return sp
}

func toPod(p *corev1.Pod) *Pod {
	pod := &Pod{
		Meta:           MetaOf("Pod", p),
		UID:            string(p.UID),
		IP:             p.Status.PodIP,
		Ready:          podReady(p),
		ServiceAccount: p.Spec.ServiceAccountName,
	}
	if pod.ServiceAccount == "" {
		// The API server's admission would set it; the pod's identity
		// (its SPIFFE ID) is built from it.
		pod.ServiceAccount = "default"
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			pod.ContainerPorts = append(pod.ContainerPorts, ContainerPort{Name: cp.Name, Port: uint32(cp.ContainerPort)})
		}
	}
	return pod
}

// podReady: a pod serves when it has an address, is running, and its Ready
// condition (if written at all) is not False. A pod in a folder usually has
// no status conditions, and should then count as ready.
func podReady(p *corev1.Pod) bool {
	if p.Status.PodIP == "" || terminated(p) {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse {
			return false
		}
	}
	return true
}

// terminated reports whether the pod has finished. An empty phase counts as
// running: files seldom write one.
func terminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// MetaOf is the Meta of a Kubernetes object. It leaves out what changes
// without the object changing meaning (resourceVersion, generation, status,
// managedFields), so that comparing snapshots sees only real changes.
func MetaOf(kind string, obj metav1.Object) Meta {
	return Meta{
		Kind:        kind,
		Name:        obj.GetName(),
		Namespace:   obj.GetNamespace(),
		Labels:      obj.GetLabels(),
		Annotations: obj.GetAnnotations(),
	}
}

// sliceEndpoints returns the endpoints that EndpointSlices give the service,
// and whether any slice is labelled with its name. Slices win over selecting
// pods because that is what Kubernetes itself serves, and because a service
// without a selector can only get endpoints this way.
func sliceEndpoints(svc *Service, slices []*discoveryv1.EndpointSlice, pods func(key string) *Pod) (eps []*Endpoint, found bool) {
	byAddress := map[string]*Endpoint{}
	for _, slice := range slices {
		if slice.Namespace != svc.Namespace || slice.Labels[discoveryv1.LabelServiceName] != svc.Name {
			continue
		}
		found = true
		ports := slicePorts(svc, slice)
		for _, e := range slice.Endpoints {
			for _, addr := range e.Addresses {
				// Kubernetes splits one service's endpoints across slices by
				// port set, so an address may come back with more ports.
				if ep := byAddress[addr]; ep != nil {
					mergePorts(ep, ports)
					ep.Ready = ep.Ready && endpointReady(e)
					continue
				}
				ep := sliceEndpoint(addr, e, ports, slice.Namespace, pods)
				byAddress[addr] = ep
				eps = append(eps, ep)
			}
		}
	}
	return eps, found
}

// slicePorts maps the service's ports to the slice's. A slice port carries
// the name of the service port it serves, so they are matched by name.
func slicePorts(svc *Service, slice *discoveryv1.EndpointSlice) map[string]uint32 {
	ports := map[string]uint32{}
	for _, sp := range svc.Ports {
		for _, p := range slice.Ports {
			if p.Port != nil && derefString(p.Name) == sp.Name {
				ports[PortKey(sp)] = uint32(*p.Port)
			}
		}
	}
	return ports
}

func sliceEndpoint(addr string, e discoveryv1.Endpoint, ports map[string]uint32, namespace string, pods func(key string) *Pod) *Endpoint {
	ep := &Endpoint{Address: addr, Ready: endpointReady(e)}
	mergePorts(ep, ports)
	if ref := e.TargetRef; ref != nil && (ref.Kind == "Pod" || ref.Kind == "") {
		ns := ref.Namespace
		if ns == "" {
			ns = namespace
		}
		ep.PodName = ref.Name
		// Subsets of a DestinationRule select endpoints by pod labels.
		if pod := pods(ns + "/" + ref.Name); pod != nil {
			ep.Labels = pod.Labels
		}
	}
	return ep
}

// endpointReady follows the EndpointSlice API: an unknown (nil) readiness
// is to be read as ready.
func endpointReady(e discoveryv1.Endpoint) bool {
	return e.Conditions.Ready == nil || *e.Conditions.Ready
}

func mergePorts(ep *Endpoint, ports map[string]uint32) {
	if ep.Ports == nil {
		ep.Ports = map[string]uint32{}
	}
	for k, v := range ports {
		ep.Ports[k] = v
	}
}

// podEndpoints derives endpoints the way the EndpointSlice controller does:
// the running pods of the service's namespace that its selector matches and
// that have an address.
func podEndpoints(svc *Service, pods []*corev1.Pod, podsByKey map[string]*Pod) []*Endpoint {
	if len(svc.Selector) == 0 {
		return nil // a service without a selector only gets endpoints from slices
	}
	var eps []*Endpoint
	for _, p := range pods {
		pod := podsByKey[p.Namespace+"/"+p.Name]
		// A finished pod's address may already belong to a new pod.
		if p.Namespace != svc.Namespace || pod.IP == "" || terminated(p) || !selects(svc.Selector, pod.Labels) {
			continue
		}
		if ep := podEndpoint(svc, pod); ep != nil {
			eps = append(eps, ep)
		}
	}
	return eps
}

// podEndpoint is the endpoint of one pod, or nil when none of the service's
// ports resolve on it. Like Kubernetes, a port whose named target the pod
// does not declare is left out for that pod.
func podEndpoint(svc *Service, pod *Pod) *Endpoint {
	ports := map[string]uint32{}
	for _, sp := range svc.Ports {
		if port, ok := pod.ResolveTargetPort(sp); ok {
			ports[PortKey(sp)] = port
		}
	}
	if len(ports) == 0 {
		return nil
	}
	return &Endpoint{Address: pod.IP, Ports: ports, Labels: pod.Labels, PodName: pod.Name, Ready: pod.Ready}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func sortEndpoints(eps []*Endpoint) {
	sort.Slice(eps, func(i, j int) bool {
		if eps[i].Address != eps[j].Address {
			return eps[i].Address < eps[j].Address
		}
		return eps[i].PodName < eps[j].PodName
	})
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
