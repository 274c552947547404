package load

import (
	"fmt"
	"strings"

	"github.com/pilotlight/pilotlight/translate"
)

// Mesh is the generated workload of issue 13: Services services spread
// evenly over Namespaces namespaces, each with Endpoints pods (even ones
// v1, odd ones v2), a DestinationRule with subsets v1 and v2, and a
// VirtualService sending 80% to v1 and 20% to v2.
type Mesh struct {
	Services   int
	Endpoints  int
	Namespaces int
	// Scoped gives every namespace a default Sidecar (networking.istio.io)
	// whose egress lets its proxies reach their own namespace only.
	Scoped bool
}

// service is one generated Service and its pods.
type service struct {
	Namespace, Name string
	Pods            []pod
}

// pod is one generated pod; the harness's proxies are pods of the mesh.
type pod struct {
	Namespace, Name, App, Version, IP string
}

func (m Mesh) namespaces() int { return max(m.Namespaces, 1) }

// namespace is the name of the i-th namespace.
func namespace(i int) string { return fmt.Sprintf("load-%02d", i) }

// services lists the mesh's services, in a fixed order.
func (m Mesh) services() []service {
	out := make([]service, 0, m.Services)
	ip := 0
	for s := 0; s < m.Services; s++ {
		svc := service{Namespace: namespace(s % m.namespaces()), Name: fmt.Sprintf("svc-%04d", s)}
		for e := 0; e < m.Endpoints; e++ {
			version := "v1"
			if e%2 == 1 {
				version = "v2"
			}
			svc.Pods = append(svc.Pods, pod{
				Namespace: svc.Namespace, Name: fmt.Sprintf("%s-%02d", svc.Name, e), App: svc.Name, Version: version,
				// Data only: nothing listens on or connects to these.
				IP: fmt.Sprintf("10.%d.%d.%d", 1+ip/(250*250), (ip/250)%250, ip%250+1),
			})
			ip++
		}
		out = append(out, svc)
	}
	return out
}

// Host is the FQDN of a service.
func (s service) Host() string { return s.Name + "." + s.Namespace + ".svc.cluster.local" }

// proxies picks n pods of the mesh as the simulated sidecars, one per
// service in turn, so that every service has about as many.
func (m Mesh) proxies(n int) []pod {
	svcs := m.services()
	out := make([]pod, 0, n)
	for k := 0; k < n && len(svcs) > 0 && m.Endpoints > 0; k++ {
		svc := svcs[k%len(svcs)]
		out = append(out, svc.Pods[(k/len(svcs))%len(svc.Pods)])
	}
	return out
}

// NodeID is the pod's sidecar node id, as Istio writes it.
func (p pod) NodeID() string {
	return translate.Proxy{Type: translate.Sidecar, IP: p.IP, PodName: p.Name, Namespace: p.Namespace}.NodeID()
}

// Names of what a change touches, as pilotlight names them.
func outboundCluster(svc service, subset string) string {
	return translate.OutboundClusterName(80, subset, svc.Host())
}

func virtualHost(svc service) string { return svc.Host() + ":80" }

// weights is the VirtualService's split, v1 then v2.
type weights struct{ v1, v2 uint32 }

var (
	defaultWeights = weights{80, 20}
	changedWeights = weights{70, 30}
)

// yaml renders a service, its pods (notReady: the pods whose Ready
// condition is False), their EndpointSlice (as the EndpointSlice
// controller writes it: a cluster always has them, and discovery reads
// endpoints from them), DestinationRule and VirtualService as one file.
func (s service) yaml(notReady map[string]bool, w weights) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: 8080}]
`, s.Name, s.Namespace)
	for _, p := range s.Pods {
		ready := "True"
		if notReady[p.Name] {
			ready = "False"
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {app: %s, version: %s}
spec:
  containers: [{name: app, image: echo, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: %s, conditions: [{type: Ready, status: "%s"}]}
`, p.Name, p.Namespace, p.App, p.Version, p.IP, ready)
	}
	fmt.Fprintf(&b, `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s-slice
  namespace: %s
  labels: {kubernetes.io/service-name: %s}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
`, s.Name, s.Namespace, s.Name)
	for _, p := range s.Pods {
		fmt.Fprintf(&b, "- {addresses: [%s], conditions: {ready: %v}, targetRef: {kind: Pod, name: %s, namespace: %s}}\n",
			p.IP, !notReady[p.Name], p.Name, p.Namespace)
	}
	fmt.Fprintf(&b, `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  host: %[1]s
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  hosts: [%[1]s]
  http:
  - route:
    - {destination: {host: %[1]s, subset: v1}, weight: %[3]d}
    - {destination: {host: %[1]s, subset: v2}, weight: %[4]d}
`, s.Name, s.Namespace, w.v1, w.v2)
	return b.String()
}

// namespacesYAML declares the namespaces, and with Scoped their Sidecars.
func (m Mesh) namespacesYAML() string {
	var b strings.Builder
	for i := 0; i < m.namespaces(); i++ {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", namespace(i))
		if m.Scoped {
			fmt.Fprintf(&b, "---\n%s", sidecarYAML(namespace(i)))
		}
	}
	return b.String()
}

// sidecarYAML is a namespace's default Sidecar: egress to its own
// namespace only.
func sidecarYAML(ns string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: %s}
spec:
  egress: [{hosts: ["./*"]}]
`, ns)
}
