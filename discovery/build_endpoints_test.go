package discovery

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A service's endpoints from its slices are the last build's while the
// service, its slices and the pods they name are the same objects, and
// are made again when any of them changes (a pod's labels, the slice's
// readiness).
func TestSliceEndpointsAreRebuiltOnlyWhenTheirInputsChange(t *testing.T) {
	port, name := int32(8080), "http"
	service := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	pod := func(version string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a-0", Namespace: "ns", Labels: map[string]string{"version": version}},
			Status: corev1.PodStatus{PodIP: "10.0.0.1"}}
	}
	slice := func(ready bool) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "a-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "a"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "a-0"}}},
			Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		}
	}
	b := NewBuilder()
	p1, s1 := pod("v1"), slice(true)
	var last []*Endpoint
	for i, step := range []struct {
		pod     *corev1.Pod
		slice   *discoveryv1.EndpointSlice
		reused  bool
		version string
		ready   bool
	}{
		{p1, s1, false, "v1", true},
		{p1, s1, true, "v1", true},         // nothing changed
		{pod("v2"), s1, false, "v2", true}, // the pod's labels
		{pod("v2"), slice(false), false, "v2", false},
	} {
		snap := b.Build(Input{Services: []*corev1.Service{service}, Pods: []*corev1.Pod{step.pod}, EndpointSlices: []*discoveryv1.EndpointSlice{step.slice}})
		eps := snap.Endpoints["ns/a"]
		if len(eps) != 1 {
			t.Fatalf("build %d: endpoints %v", i, eps)
		}
		if reused := last != nil && &eps[0] == &last[0]; reused != step.reused {
			t.Errorf("build %d: endpoints reused %v, want %v", i, reused, step.reused)
		}
		if eps[0].Labels["version"] != step.version || eps[0].Ready != step.ready {
			t.Errorf("build %d: endpoint %+v, want version %s, ready %v", i, eps[0], step.version, step.ready)
		}
		last = eps
	}
}
