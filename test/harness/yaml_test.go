package harness

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The generated documents must read back as the Kubernetes objects they
// claim to be (strict: no unknown or misplaced fields).
func TestGeneratedYAMLIsKubernetes(t *testing.T) {
	p := &Pod{Name: "front-end-v1", Namespace: "sock-shop", Labels: map[string]string{"app": "front-end", "version": "v1"},
		Ports: []ContainerPort{{Name: "http", Port: 8080}}, PodIP: "127.101.0.1", Local: "127.102.0.1"}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(p.YAML()), &pod); err != nil {
		t.Fatalf("%v\n%s", err, p.YAML())
	}
	if pod.Kind != "Pod" || pod.Name != "front-end-v1" || pod.Namespace != "sock-shop" ||
		pod.Labels["version"] != "v1" || pod.Annotations[LocalAddressAnnotation] != "127.102.0.1" ||
		pod.Status.PodIP != "127.101.0.1" || pod.Status.Phase != corev1.PodRunning ||
		len(pod.Spec.Containers) != 1 || len(pod.Spec.Containers[0].Ports) != 1 ||
		pod.Spec.Containers[0].Ports[0].ContainerPort != 8080 || pod.Spec.Containers[0].Ports[0].Name != "http" {
		t.Errorf("pod read back as %+v", pod)
	}
	ready := false
	for _, c := range pod.Status.Conditions {
		ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
	}
	if !ready {
		t.Errorf("pod not Ready: %+v", pod.Status.Conditions)
	}

	client := &Pod{Name: "sleep", Namespace: "sock-shop", Labels: map[string]string{"app": "sleep"}, NoApp: true, PodIP: "127.101.0.2", Local: "127.102.0.2"}
	if err := yaml.UnmarshalStrict([]byte(client.YAML()), &pod); err != nil {
		t.Fatalf("%v\n%s", err, client.YAML())
	}

	s := &Service{Name: "catalogue", Namespace: "sock-shop", Selector: map[string]string{"app": "catalogue"},
		Ports: []ServicePort{{Name: "http", Port: 80, TargetPort: 8080}, {Name: "grpc", Port: 90, TargetPortName: "grpc", AppProtocol: "grpc"}}}
	var svc corev1.Service
	if err := yaml.UnmarshalStrict([]byte(s.YAML()), &svc); err != nil {
		t.Fatalf("%v\n%s", err, s.YAML())
	}
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 || svc.Spec.Ports[1].TargetPort.String() != "grpc" ||
		svc.Spec.Selector["app"] != "catalogue" || *svc.Spec.Ports[1].AppProtocol != "grpc" {
		t.Errorf("service read back as %+v", svc.Spec)
	}
	if s.Host() != "catalogue.sock-shop.svc.cluster.local" {
		t.Errorf("Host() = %s", s.Host())
	}

	var ns corev1.Namespace
	if err := yaml.UnmarshalStrict([]byte(NamespaceYAML("sock-shop")), &ns); err != nil || ns.Name != "sock-shop" {
		t.Errorf("namespace: %v %+v", err, ns)
	}
	joined := JoinDocs(NamespaceYAML("a"), "", s.YAML())
	if strings.Count(joined, "\n---\n") != 1 {
		t.Errorf("JoinDocs:\n%s", joined)
	}
}

func TestNodeID(t *testing.T) {
	p := &Pod{Name: "front-end-v1", Namespace: "sock-shop", PodIP: "127.10.0.1", Local: "127.20.0.1"}
	if got, want := p.NodeID(), "sidecar~127.10.0.1~front-end-v1.sock-shop~sock-shop.svc.cluster.local"; got != want {
		t.Errorf("NodeID = %s, want %s", got, want)
	}
	if p.Admin() != "127.20.0.1:15000" || p.ProxyAddr() != "127.20.0.1:15001" {
		t.Errorf("Admin %s ProxyAddr %s", p.Admin(), p.ProxyAddr())
	}
}
