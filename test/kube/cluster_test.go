package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/test/kube"
)

// TestClusterEndpointSlices: the harness's cluster turns a Service and the
// pods the Kubelet helper runs into EndpointSlices (the controller-manager
// works), readiness and scaling show up there, Istio objects written as
// v1alpha3 read back as v1, and the API server comes back on the same port
// with its data after a restart.
func TestClusterEndpointSlices(t *testing.T) {
	c := kube.Start(t)
	for _, p := range c.Startup {
		t.Logf("startup: %-24s %v", p.Name, p.Took.Round(time.Millisecond))
	}
	const ns = "harness"
	c.CreateNamespace(ns)
	c.CreateService(kube.HTTPService(ns, "catalogue", 80, 8080))
	k := c.Kubelet("node-1")

	start := time.Now()
	pod := k.RunPod(kube.PodOptions{
		Namespace: ns, Name: "catalogue-v1-0",
		Labels: map[string]string{"app": "catalogue", "version": "v1"},
		Ports:  kube.HTTPPort(8080),
	})
	if !strings.HasPrefix(pod.Status.PodIP, "10.244.") || pod.Spec.NodeName != "node-1" {
		t.Fatalf("pod: ip %q node %q", pod.Status.PodIP, pod.Spec.NodeName)
	}
	if err := c.WaitEndpointSlice(ns, "catalogue", []string{pod.Status.PodIP}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("pod write -> EndpointSlice: %v", time.Since(start).Round(time.Millisecond))

	// Not ready: out of the ready addresses; ready again: back.
	k.SetReady(ns, pod.Name, false)
	if err := c.WaitEndpointSlice(ns, "catalogue", nil, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if all, err := c.EndpointSliceAddresses(ns, "catalogue", false); err != nil || len(all) != 1 {
		t.Fatalf("a not-ready pod stays in the slice, not ready: got %q, %v", all, err)
	}
	k.SetReady(ns, pod.Name, true)
	if err := c.WaitEndpointSlice(ns, "catalogue", []string{pod.Status.PodIP}, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	// Scale to 3, then to 1 (catalogue-v1-0 stays).
	added := k.Scale(ns, "catalogue", "v1", 3, kube.HTTPPort(8080))
	if len(added) != 2 {
		t.Fatalf("Scale up added %d pods, want 2", len(added))
	}
	want := []string{pod.Status.PodIP, added[0].Status.PodIP, added[1].Status.PodIP}
	if err := c.WaitEndpointSlice(ns, "catalogue", want, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if removed := k.Scale(ns, "catalogue", "v1", 1, kube.HTTPPort(8080)); len(removed) != 2 {
		t.Fatalf("Scale down removed %d pods, want 2", len(removed))
	}
	if err := c.WaitEndpointSlice(ns, "catalogue", []string{pod.Status.PodIP}, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	// Istio objects: YAML in v1 spelling is written as v1alpha3 and
	// served back in v1 (the stored version).
	c.ApplyYAML(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: catalogue
  namespace: harness
spec:
  host: catalogue
  subsets:
  - name: v1
    labels:
      version: v1
`)
	c.ApplyVirtualService(&networkingv1alpha3.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "catalogue", Namespace: ns},
		Spec: networkingapi.VirtualService{
			Hosts: []string{"catalogue"},
			Http: []*networkingapi.HTTPRoute{{
				Route: []*networkingapi.HTTPRouteDestination{{Destination: &networkingapi.Destination{Host: "catalogue", Subset: "v1"}}},
			}},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vs, err := c.Istio.NetworkingV1().VirtualServices(ns).Get(ctx, "catalogue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := vs.Spec.GetHttp()[0].GetRoute()[0].GetDestination().GetSubset(); got != "v1" {
		t.Fatalf("VirtualService read as v1: subset %q", got)
	}

	// Restart: same port, same data.
	port := c.Port()
	start = time.Now()
	c.RestartAPIServer()
	t.Logf("kube-apiserver restart: %v", time.Since(start).Round(time.Millisecond))
	if c.Port() != port {
		t.Fatalf("port changed")
	}
	if _, err := c.VirtualService(ns, "catalogue"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if err := c.WaitEndpointSlice(ns, "catalogue", []string{pod.Status.PodIP}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// The controller-manager reconnected: a new pod reaches the slice.
	more := k.Scale(ns, "catalogue", "v1", 2, kube.HTTPPort(8080))
	if err := c.WaitEndpointSlice(ns, "catalogue", []string{pod.Status.PodIP, more[0].Status.PodIP}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
}
