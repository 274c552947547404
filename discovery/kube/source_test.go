package kube

import (
	"context"
	"reflect"
	"testing"

	istiometa "istio.io/api/meta/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

func TestSnapshotFromCluster(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v1"))
	h := startSource(t, kube, istio)
	snap := h.next()

	if !h.src.Synced() {
		t.Error("Synced() = false after the first snapshot")
	}
	if snap.Version != 1 || len(snap.Problems) != 0 {
		t.Fatalf("version %d, problems %v; want version 1 and no problems", snap.Version, snap.Problems)
	}
	svc := snap.ServiceByHost("catalogue.sock-shop.svc.cluster.local")
	if svc == nil || !reflect.DeepEqual(svc.Ports, []discovery.ServicePort{{Name: "http", Port: 80, Protocol: "TCP", TargetPortNumber: 8080}}) {
		t.Fatalf("service = %+v", svc)
	}
	// Endpoints come from the slice, with the labels of the pods it names.
	want := []*discovery.Endpoint{
		{Address: "10.244.0.11", Ports: map[string]uint32{"http": 8080}, Labels: map[string]string{"app": "catalogue", "version": "v1"}, PodName: "catalogue-v1", Ready: true},
		{Address: "10.244.0.12", Ports: map[string]uint32{"http": 8080}, Labels: map[string]string{"app": "catalogue", "version": "v2"}, PodName: "catalogue-v2", Ready: false},
	}
	if got := snap.Endpoints["sock-shop/catalogue"]; !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints = %+v\nwant %+v", deref(got), deref(want))
	}
	if pod := snap.Pod(ns, "catalogue-v1"); pod == nil || pod.IP != "10.244.0.11" || !pod.Ready || pod.ServiceAccount != "catalogue" {
		t.Errorf("pod = %+v", pod)
	}
	if len(snap.VirtualServices) != 1 || len(snap.DestinationRules) != 1 || snap.VirtualServices[0].Spec.Http[0].Route[0].Destination.Subset != "v1" {
		t.Errorf("rules: %d virtual services, %d destination rules", len(snap.VirtualServices), len(snap.DestinationRules))
	}
}

func deref(eps []*discovery.Endpoint) []discovery.Endpoint {
	var out []discovery.Endpoint
	for _, e := range eps {
		out = append(out, *e)
	}
	return out
}

func TestEndpointSliceUpdateIsEndpointOnly(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v1"))
	h := startSource(t, kube, istio)
	first := h.next()

	// catalogue-v2 turns ready: the controller rewrites the slice, the
	// kubelet the pod.
	slice := catalogueSlice(sliceEndpoint{"10.244.0.11", "catalogue-v1", true}, sliceEndpoint{"10.244.0.12", "catalogue-v2", true})
	if _, err := h.kube.DiscoveryV1().EndpointSlices(ns).Update(context.Background(), slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := h.next()
	if second.Version != first.Version+1 {
		t.Errorf("version %d after %d", second.Version, first.Version)
	}
	if !discovery.SameConfig(first, second) {
		t.Error("an EndpointSlice update changed more than endpoints (SameConfig = false)")
	}
	if eps := second.Endpoints["sock-shop/catalogue"]; len(eps) != 2 || !eps[1].Ready {
		t.Errorf("endpoints = %+v, want catalogue-v2 ready", deref(eps))
	}
}

func TestStatusOnlyUpdatePublishesNothing(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v1"))
	h := startSource(t, kube, istio)
	first := h.next()
	built := h.src.report.Load()

	vs, err := h.istio.NetworkingV1().VirtualServices(ns).Get(context.Background(), "catalogue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vs.Status.Conditions = []*istiometa.IstioCondition{{Type: ConditionReconciled, Status: "True", Reason: ReasonAccepted}}
	vs.Status.ObservedGeneration = 7
	if _, err := h.istio.NetworkingV1().VirtualServices(ns).UpdateStatus(context.Background(), vs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitForBuild(built)
	h.nothingPublished()

	// A real change afterwards is published as the very next version.
	if err := h.kube.CoreV1().Pods(ns).Delete(context.Background(), "catalogue-v2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if next := h.next(); next.Version != first.Version+1 || next.Pod(ns, "catalogue-v2") != nil {
		t.Errorf("after the pod's deletion: version %d (want %d)", next.Version, first.Version+1)
	}
}

func TestInvalidVirtualServiceIsAProblem(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v3"))
	h := startSource(t, kube, istio)
	snap := h.next()

	if len(snap.VirtualServices) != 0 {
		t.Errorf("the invalid VirtualService is served")
	}
	want := []discovery.Problem{{
		Source: "sock-shop/catalogue",
		Kind:   "VirtualService",
		Name:   "sock-shop/catalogue",
		Field:  "spec.http[0].route[0].destination.subset",
		Reason: `subset "v3" is not defined by any DestinationRule for host catalogue.sock-shop.svc.cluster.local`,
	}}
	if !reflect.DeepEqual(snap.Problems, want) {
		t.Errorf("problems = %+v\nwant %+v", snap.Problems, want)
	}
	if got := h.src.report.Load().problems["VirtualService sock-shop/catalogue"]; !reflect.DeepEqual(got, want) {
		t.Errorf("the status writer is told %+v", got)
	}
}

func TestDeletingEverythingPublishesAnEmptyMesh(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v1"))
	h := startSource(t, kube, istio)
	h.next()
	if err := h.kube.CoreV1().Services(ns).Delete(context.Background(), "catalogue", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if snap := h.next(); snap.ServiceByHost("catalogue.sock-shop.svc.cluster.local") != nil {
		t.Error("a deleted service is still served")
	}
}
