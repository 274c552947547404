package kube

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	networking "istio.io/api/networking/v1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	ratelimitv1alpha1 "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/discovery"
)

// The test mesh: service catalogue in sock-shop, two pods behind it (v1
// ready, v2 not), the EndpointSlice the controller would write for them,
// and a DestinationRule with a subset per version.
const ns = "sock-shop"

func objectMeta(name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
}

func catalogueService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta("catalogue", nil),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "catalogue"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

func cataloguePod(version, ip string, ready bool) *corev1.Pod {
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	return &corev1.Pod{
		ObjectMeta: objectMeta("catalogue-"+version, map[string]string{"app": "catalogue", "version": version}),
		Spec: corev1.PodSpec{
			NodeName:           "node-1",
			ServiceAccountName: "catalogue",
			Containers:         []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
		},
	}
}

type sliceEndpoint struct {
	ip, pod string
	ready   bool
}

func catalogueSlice(endpoints ...sliceEndpoint) *discoveryv1.EndpointSlice {
	name, port := "http", int32(8080)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  objectMeta("catalogue-abcde", map[string]string{discoveryv1.LabelServiceName: "catalogue"}),
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	for _, e := range endpoints {
		ready := e.ready
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.pod},
		})
	}
	return slice
}

func catalogueRule() *istiov1.DestinationRule {
	return &istiov1.DestinationRule{
		ObjectMeta: objectMeta("catalogue", nil),
		Spec: networking.DestinationRule{
			Host: "catalogue",
			Subsets: []*networking.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}},
				{Name: "v2", Labels: map[string]string{"version": "v2"}},
			},
		},
	}
}

// routeToSubset is a VirtualService sending all of catalogue to a subset.
func routeToSubset(subset string) *istiov1.VirtualService {
	return &istiov1.VirtualService{
		ObjectMeta: objectMeta("catalogue", nil),
		Spec: networking.VirtualService{
			Hosts: []string{"catalogue"},
			Http: []*networking.HTTPRoute{{Route: []*networking.HTTPRouteDestination{{
				Destination: &networking.Destination{Host: "catalogue", Subset: subset},
			}}}},
		},
	}
}

// meshObjects is the whole test mesh, split by clientset.
func meshObjects(vs *istiov1.VirtualService) (kube, istio []runtime.Object) {
	kube = []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		catalogueService(),
		cataloguePod("v1", "10.244.0.11", true),
		cataloguePod("v2", "10.244.0.12", false),
		catalogueSlice(sliceEndpoint{"10.244.0.11", "catalogue-v1", true}, sliceEndpoint{"10.244.0.12", "catalogue-v2", false}),
	}
	return kube, []runtime.Object{catalogueRule(), vs}
}

// newIstioFake is istio's fake clientset, made to watch the way client-go's
// own fake does: from the resourceVersion of the list before. Istio's
// generated fake watches from "now", so a change made between an
// informer's list and its watch would be lost, and the test would hang.
//
// Gateways are added under their real resource name: the tracker would
// guess "gatewaies" from the kind.
func newIstioFake(objects ...runtime.Object) *istiofake.Clientset {
	c := istiofake.NewSimpleClientset()
	for _, o := range objects {
		var err error
		if gw, ok := o.(*istiov1.Gateway); ok {
			err = c.Tracker().Create(istiov1.SchemeGroupVersion.WithResource("gateways"), gw, gw.Namespace)
		} else {
			err = c.Tracker().Add(o)
		}
		if err != nil {
			panic(err)
		}
	}
	c.PrependWatchReactor("*", func(action k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if w, ok := action.(k8stesting.WatchActionImpl); ok {
			opts = w.ListOptions
		}
		w, err := c.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
		return true, w, err
	})
	return c
}

// newPolicyFake is a dynamic client that serves RateLimitPolicies.
func newPolicyFake(policies ...*unstructured.Unstructured) *dynamicfake.FakeDynamicClient {
	objs := make([]runtime.Object, len(policies))
	for i, p := range policies {
		objs[i] = p
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{ratelimitv1alpha1.Resource: "RateLimitPolicyList"}, objs...)
}

// harness runs a Source over fake clientsets and collects what it publishes.
type harness struct {
	t         *testing.T
	kube      *kubefake.Clientset
	istio     *istiofake.Clientset
	dynamic   *dynamicfake.FakeDynamicClient // RateLimitPolicies
	src       *Source
	published chan *discovery.Snapshot
}

func startSource(t *testing.T, kubeObjects, istioObjects []runtime.Object, policies ...*unstructured.Unstructured) *harness {
	t.Helper()
	h := &harness{
		t:         t,
		kube:      kubefake.NewClientset(kubeObjects...),
		istio:     newIstioFake(istioObjects...),
		dynamic:   newPolicyFake(policies...),
		published: make(chan *discovery.Snapshot, 100),
	}
	// The API server serves the RateLimitPolicy CRD.
	h.kube.Resources = []*metav1.APIResourceList{{
		GroupVersion: ratelimitv1alpha1.GroupVersion.String(),
		APIResources: []metav1.APIResource{{Name: "ratelimitpolicies", Kind: ratelimitv1alpha1.Kind, Namespaced: true}},
	}}
	src, err := New(Options{Kube: h.kube, Istio: h.istio, Dynamic: h.dynamic, Log: quietLog(), Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := src.Run(ctx, func(s *discovery.Snapshot) { h.published <- s }); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// next waits for the next published snapshot.
func (h *harness) next() *discovery.Snapshot {
	h.t.Helper()
	select {
	case s := <-h.published:
		return s
	case <-time.After(10 * time.Second):
		h.t.Fatal("no snapshot published within 10s")
		return nil
	}
}

// nothingPublished checks that no snapshot is waiting to be read.
func (h *harness) nothingPublished() {
	h.t.Helper()
	select {
	case s := <-h.published:
		h.t.Errorf("published snapshot %d, want none", s.Version)
	default:
	}
}

// waitForBuild waits until the source has built a snapshot (published or
// not) after the build that made r.
func (h *harness) waitForBuild(r *report) {
	h.t.Helper()
	eventually(h.t, "a new build", func() bool { return h.src.report.Load() != r })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
