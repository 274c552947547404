package harness

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// LocalAddressAnnotation marks a pod in local mode; its value is the pod's
// local address (its "localhost").
const LocalAddressAnnotation = "sidecar.pilotlight.io/local-address"

// ServicePort is one port of a Kubernetes Service.
type ServicePort struct {
	Name string
	Port int
	// TargetPort is a number; TargetPortName, when set, a container port name.
	TargetPort     int
	TargetPortName string
	AppProtocol    string
}

// Service is a Kubernetes Service of the mesh.
type Service struct {
	Name      string
	Namespace string
	// Selector defaults to {app: Name}.
	Selector map[string]string
	// Ports defaults to [{http 80 -> 8080}].
	Ports []ServicePort
}

// Host is the service's FQDN, e.g. catalogue.sock-shop.svc.cluster.local.
func (s *Service) Host() string { return s.Name + "." + s.Namespace + ".svc.cluster.local" }

// ContainerPort is a port the pod's app listens on (on its local address).
type ContainerPort struct {
	Name string
	Port int
}

// q quotes s as a YAML (JSON-compatible) double-quoted scalar.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func writeMap(b *strings.Builder, indent string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s%s: %s\n", indent, q(k), q(m[k]))
	}
}

// NamespaceYAML is a Namespace document.
func NamespaceYAML(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", q(name))
}

// YAML is the Service as a Kubernetes document.
func (s *Service) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\n", q(s.Name), q(s.Namespace))
	b.WriteString("spec:\n  selector:\n")
	writeMap(&b, "    ", s.Selector)
	b.WriteString("  ports:\n")
	for _, p := range s.Ports {
		fmt.Fprintf(&b, "  - port: %d\n    protocol: TCP\n", p.Port)
		if p.Name != "" {
			fmt.Fprintf(&b, "    name: %s\n", q(p.Name))
		}
		switch {
		case p.TargetPortName != "":
			fmt.Fprintf(&b, "    targetPort: %s\n", q(p.TargetPortName))
		case p.TargetPort != 0:
			fmt.Fprintf(&b, "    targetPort: %d\n", p.TargetPort)
		}
		if p.AppProtocol != "" {
			fmt.Fprintf(&b, "    appProtocol: %s\n", q(p.AppProtocol))
		}
	}
	return b.String()
}

// YAML is the Pod as a Kubernetes document, in local mode: the
// local-address annotation, status.podIP, and a Running, Ready status as a
// kubelet would have written it.
func (p *Pod) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n", q(p.Name), q(p.Namespace))
	if len(p.Labels) > 0 {
		b.WriteString("  labels:\n")
		writeMap(&b, "    ", p.Labels)
	}
	ann := map[string]string{}
	for k, v := range p.Annotations {
		ann[k] = v
	}
	if p.NoSidecar {
		ann["sidecar.istio.io/inject"] = "false"
	} else {
		ann[LocalAddressAnnotation] = p.Local
	}
	b.WriteString("  annotations:\n")
	writeMap(&b, "    ", ann)
	container := "app"
	if p.NoApp {
		container = "client"
	}
	b.WriteString("spec:\n")
	if p.ServiceAccount != "" {
		fmt.Fprintf(&b, "  serviceAccountName: %s\n", q(p.ServiceAccount))
	}
	fmt.Fprintf(&b, "  containers:\n  - name: %s\n    image: %s\n", q(container), q("pilotlight/echo:dev"))
	if len(p.Ports) > 0 {
		b.WriteString("    ports:\n")
		for _, cp := range p.Ports {
			fmt.Fprintf(&b, "    - containerPort: %d\n      protocol: TCP\n", cp.Port)
			if cp.Name != "" {
				fmt.Fprintf(&b, "      name: %s\n", q(cp.Name))
			}
		}
	}
	fmt.Fprintf(&b, "status:\n  phase: Running\n  podIP: %s\n  podIPs:\n  - ip: %s\n", q(p.PodIP), q(p.PodIP))
	b.WriteString("  conditions:\n  - type: Ready\n    status: \"True\"\n  - type: ContainersReady\n    status: \"True\"\n")
	return b.String()
}

// JoinDocs joins YAML documents into one multi-document file.
func JoinDocs(docs ...string) string {
	var parts []string
	for _, d := range docs {
		if d = strings.TrimSpace(d); d != "" {
			parts = append(parts, d+"\n")
		}
	}
	return strings.Join(parts, "---\n")
}
