package kube

import (
	"context"
	"fmt"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1"
	security "istio.io/api/security/v1beta1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// kubeCase is one kind as the API server holds it: two valid versions of an
// object and one invalid (as the API server would not have refused: its
// validation is not ours), and how to tell which version is served.
type kubeCase struct {
	kind     string
	resource schema.GroupVersionResource
	istio    bool // served by the Istio clientset
	object   func(v int) runtime.Object
	served   func(*discovery.Snapshot) string
}

var (
	coreV1     = schema.GroupVersion{Version: "v1"}
	discoverV1 = discoveryv1.SchemeGroupVersion
)

func kubeCases(t *testing.T) []kubeCase {
	var certs [2][2][]byte
	for i := range certs {
		certs[i][0], certs[i][1] = discoverytest.SelfSigned(t, fmt.Sprintf("v%d.example.com", i))
	}
	return []kubeCase{{
		kind: "Secret", resource: coreV1.WithResource("secrets"),
		object: func(v int) runtime.Object {
			data := map[string][]byte{"tls.crt": []byte("not a certificate"), "tls.key": []byte("nor a key")}
			if v < 2 {
				data = map[string][]byte{"tls.crt": certs[v][0], "tls.key": certs[v][1]}
			}
			return &corev1.Secret{ObjectMeta: objectMeta("shop-cert", nil), Type: corev1.SecretTypeTLS, Data: data}
		},
		served: func(s *discovery.Snapshot) string {
			if sec := s.Secret(ns, "shop-cert"); sec != nil {
				return map[string]string{string(certs[0][0]): "v0", string(certs[1][0]): "v1"}[string(sec.CertChain)]
			}
			return ""
		},
	}, {
		kind: "Service", resource: coreV1.WithResource("services"),
		object: func(v int) runtime.Object {
			return &corev1.Service{ObjectMeta: objectMeta("orders", nil), Spec: corev1.ServiceSpec{
				Ports: []corev1.ServicePort{{Name: "http", Port: []int32{8080, 8081, 70000}[v]}}}}
		},
		served: func(s *discovery.Snapshot) string {
			if svc := s.ServiceByHost("orders.sock-shop.svc.cluster.local"); svc != nil {
				return fmt.Sprintf("v%d", svc.Ports[0].Port-8080)
			}
			return ""
		},
	}, {
		kind: "Pod", resource: coreV1.WithResource("pods"),
		object: func(v int) runtime.Object {
			return &corev1.Pod{ObjectMeta: objectMeta("sleep", nil), Status: corev1.PodStatus{PodIP: []string{"10.244.1.0", "10.244.1.1", "not-an-ip"}[v]}}
		},
		served: func(s *discovery.Snapshot) string {
			if p := s.Pod(ns, "sleep"); p != nil {
				return "v" + strings.TrimPrefix(p.IP, "10.244.1.")
			}
			return ""
		},
	}, {
		kind: "EndpointSlice", resource: discoverV1.WithResource("endpointslices"),
		object: func(v int) runtime.Object {
			slice := catalogueSlice(sliceEndpoint{[]string{"10.244.2.0", "10.244.2.1", "abc"}[v], "", true})
			slice.Name = "catalogue-extra"
			return slice
		},
		served: func(s *discovery.Snapshot) string {
			for _, ep := range s.Endpoints[ns+"/catalogue"] {
				if strings.HasPrefix(ep.Address, "10.244.2.") {
					return "v" + strings.TrimPrefix(ep.Address, "10.244.2.")
				}
			}
			return ""
		},
	}, {
		kind: "DestinationRule", resource: istiov1.SchemeGroupVersion.WithResource("destinationrules"), istio: true,
		object: func(v int) runtime.Object {
			names := [][]string{{"a"}, {"b"}, {"a", "a"}}[v]
			dr := &istiov1.DestinationRule{ObjectMeta: objectMeta("orders", nil), Spec: networking.DestinationRule{Host: "orders"}}
			for _, n := range names {
				dr.Spec.Subsets = append(dr.Spec.Subsets, &networking.Subset{Name: n, Labels: map[string]string{"x": n}})
			}
			return dr
		},
		served: func(s *discovery.Snapshot) string {
			for _, dr := range s.DestinationRules {
				if dr.Name == "orders" {
					return map[string]string{"a": "v0", "b": "v1"}[dr.Spec.Subsets[0].Name]
				}
			}
			return ""
		},
	}, {
		kind: "Gateway", resource: istiov1.SchemeGroupVersion.WithResource("gateways"), istio: true,
		object: func(v int) runtime.Object {
			return &istiov1.Gateway{ObjectMeta: objectMeta("edge", nil), Spec: networking.Gateway{Servers: []*networking.Server{{
				Port: &networking.Port{Number: []uint32{8080, 8081, 0}[v], Name: "http", Protocol: "HTTP"}, Hosts: []string{"*"}}}}}
		},
		served: func(s *discovery.Snapshot) string {
			for _, gw := range s.Gateways {
				if gw.Name == "edge" {
					return fmt.Sprintf("v%d", gw.Spec.Servers[0].Port.Number-8080)
				}
			}
			return ""
		},
	}, {
		kind: "AuthorizationPolicy", resource: securityv1.SchemeGroupVersion.WithResource("authorizationpolicies"), istio: true,
		object: func(v int) runtime.Object {
			return &securityv1.AuthorizationPolicy{ObjectMeta: objectMeta("deny", nil), Spec: security.AuthorizationPolicy{
				Action: security.AuthorizationPolicy_DENY,
				Rules:  []*security.Rule{{To: []*security.Rule_To{{Operation: &security.Operation{Paths: []string{[]string{"/a", "/b", ""}[v]}}}}}},
			}}
		},
		served: func(s *discovery.Snapshot) string {
			for _, ap := range s.AuthorizationPolicies {
				if ap.Name == "deny" {
					return map[string]string{"/a": "v0", "/b": "v1"}[ap.Spec.Rules[0].To[0].Operation.Paths[0]]
				}
			}
			return ""
		},
	}, {
		kind: "VirtualService", resource: istiov1.SchemeGroupVersion.WithResource("virtualservices"), istio: true,
		object: func(v int) runtime.Object {
			// An 80/20 canary, then 70/30; the bad edit adds up to 110.
			vs := &istiov1.VirtualService{ObjectMeta: objectMeta("canary", nil), Spec: networking.VirtualService{Hosts: []string{"catalogue"}}}
			weights := [][2]int32{{80, 20}, {70, 30}, {80, 30}}[v]
			vs.Spec.Http = []*networking.HTTPRoute{{Route: []*networking.HTTPRouteDestination{
				{Destination: &networking.Destination{Host: "catalogue", Subset: "v1"}, Weight: weights[0]},
				{Destination: &networking.Destination{Host: "catalogue", Subset: "v2"}, Weight: weights[1]},
			}}}
			return vs
		},
		served: func(s *discovery.Snapshot) string {
			for _, vs := range s.VirtualServices {
				if vs.Name == "canary" {
					return map[int32]string{80: "v0", 70: "v1"}[vs.Spec.Http[0].Route[0].Weight]
				}
			}
			return ""
		},
	}}
}

// TestLastGoodInKubernetesMode: for every kind read from the API server, an
// update to an invalid version keeps the last valid one served, with a
// problem saying so; a fix replaces it; after a delete, an invalid object
// (never valid since) is skipped.
func TestLastGoodInKubernetesMode(t *testing.T) {
	for _, tc := range kubeCases(t) {
		t.Run(tc.kind, func(t *testing.T) {
			kube, istio := meshObjects(routeToSubset("v1"))
			h := startSource(t, kube, istio)
			h.next()
			tracker := h.kube.Tracker()
			if tc.istio {
				tracker = h.istio.Tracker()
			}
			name := tc.object(0).(metav1.Object).GetName()
			steps := []struct {
				what        string
				apply       func() error
				served      string
				stillServed bool
			}{
				{"create", func() error { return tracker.Create(tc.resource, tc.object(0), ns) }, "v0", false},
				{"break", func() error { return tracker.Update(tc.resource, tc.object(2), ns) }, "v0", true},
				{"fix", func() error { return tracker.Update(tc.resource, tc.object(1), ns) }, "v1", false},
				{"break again", func() error { return tracker.Update(tc.resource, tc.object(2), ns) }, "v1", true},
				{"delete", func() error { return tracker.Delete(tc.resource, ns, name) }, "", false},
				{"create broken", func() error { return tracker.Create(tc.resource, tc.object(2), ns) }, "", false},
			}
			for _, step := range steps {
				if err := step.apply(); err != nil {
					t.Fatalf("%s: %v", step.what, err)
				}
				s := h.next()
				if got := tc.served(s); got != step.served {
					t.Errorf("%s: serves %q, want %q; problems %v", step.what, got, step.served, s.Problems)
				}
				said := false
				for _, p := range s.Problems {
					if p.Kind == tc.kind && strings.HasSuffix(p.Reason, discovery.StillServed) {
						said = true
					}
				}
				if said != step.stillServed {
					t.Errorf("%s: problems %v; saying the previous version is served: %v, want %v", step.what, s.Problems, said, step.stillServed)
				}
			}
		})
	}
}

// TestStatusSaysThePreviousVersionIsServed: the status written on a
// VirtualService broken by an edit says that its previous version still
// routes.
func TestStatusSaysThePreviousVersionIsServed(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v1"))
	h := startSource(t, kube, istio)
	h.next()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.src.WriteStatus(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	broken := routeToSubset("v1")
	broken.Spec.Http[0].Route[0].Weight = 110
	broken.Generation = 2
	if _, err := h.istio.NetworkingV1().VirtualServices(ns).Update(context.Background(), broken, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if s := h.next(); len(s.VirtualServices) != 1 || s.VirtualServices[0].Spec.Http[0].Route[0].Weight != 0 {
		t.Errorf("served %v, want the previous version (no weight)", s.VirtualServices)
	}
	c := waitForCondition(t, h, "False")
	if !strings.Contains(c.Message, "weights add up to 110") || !strings.HasSuffix(c.Message, discovery.StillServed) {
		t.Errorf("condition message %q, want the problem and that the previous version is still served", c.Message)
	}
}
