package discovery_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	rl "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// lastGoodCase is one kind: two valid versions of an object, one invalid
// version, and how to tell which version a snapshot serves.
type lastGoodCase struct {
	kind string
	// add puts version v of the object into in: 0 and 1 are valid, 2 is not.
	add func(t *testing.T, in *discovery.Input, v int)
	// served names the version the snapshot serves ("v0", "v1"), or "".
	served func(s *discovery.Snapshot) string
}

func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "shop"}
}

// specOf decodes the YAML of an Istio spec.
func specOf[T proto.Message](t *testing.T, spec T, y string) T {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(js, spec); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	return spec
}

// context is the mesh around the object under test: a catalogue Service
// with two pods and a discovery.DestinationRule with subsets v1 and v2.
func context(t *testing.T) discovery.Input {
	pod := func(name, ip, version string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "catalogue", "version": version}},
			Status: corev1.PodStatus{PodIP: ip}}
	}
	return discovery.Input{
		Services: []*corev1.Service{{ObjectMeta: objectMeta("catalogue"), Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "catalogue"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}},
		Pods: []*corev1.Pod{pod("catalogue-v1", "10.0.0.1", "v1"), pod("catalogue-v2", "10.0.0.2", "v2")},
		DestinationRules: []*discovery.DestinationRule{{Meta: discovery.Meta{Kind: "DestinationRule", Name: "catalogue", Namespace: "shop"},
			Spec: specOf(t, &networking.DestinationRule{}, "host: catalogue\nsubsets:\n- {name: v1, labels: {version: v1}}\n- {name: v2, labels: {version: v2}}\n")}},
	}
}

func lastGoodCases(t *testing.T) []lastGoodCase {
	certs := [2][2][]byte{}
	for i := range certs {
		certs[i][0], certs[i][1] = discoverytest.SelfSigned(t, fmt.Sprintf("v%d.example.com", i))
	}
	return []lastGoodCase{{
		kind: "Service",
		add: func(t *testing.T, in *discovery.Input, v int) {
			port := []int32{8080, 8081, 70000}[v]
			in.Services = append(in.Services, &corev1.Service{ObjectMeta: objectMeta("orders"),
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}}})
		},
		served: func(s *discovery.Snapshot) string {
			for _, svc := range s.Services {
				if svc.Name == "orders" {
					return fmt.Sprintf("v%d", svc.Ports[0].Port-8080)
				}
			}
			return ""
		},
	}, {
		kind: "Pod",
		add: func(t *testing.T, in *discovery.Input, v int) {
			in.Pods = append(in.Pods, &corev1.Pod{ObjectMeta: objectMeta("sleep"),
				Status: corev1.PodStatus{PodIP: []string{"10.0.1.0", "10.0.1.1", "10.0.1.x"}[v]}})
		},
		served: func(s *discovery.Snapshot) string {
			if p := s.Pod("shop", "sleep"); p != nil {
				return "v" + strings.TrimPrefix(p.IP, "10.0.1.")
			}
			return ""
		},
	}, {
		kind: "EndpointSlice",
		add: func(t *testing.T, in *discovery.Input, v int) {
			in.EndpointSlices = append(in.EndpointSlices, &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: "catalogue-1", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "catalogue"}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{[]string{"10.2.0.0", "10.2.0.1", "999.2.0.1"}[v]}}},
				Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
			})
		},
		served: func(s *discovery.Snapshot) string {
			for _, ep := range s.Endpoints["shop/catalogue"] {
				if strings.HasPrefix(ep.Address, "10.2.0.") {
					return "v" + strings.TrimPrefix(ep.Address, "10.2.0.")
				}
			}
			return ""
		},
	}, {
		kind: "Secret",
		add: func(t *testing.T, in *discovery.Input, v int) {
			data := map[string][]byte{"tls.crt": []byte("not a certificate"), "tls.key": []byte("nor a key")}
			if v < 2 {
				data = map[string][]byte{"tls.crt": certs[v][0], "tls.key": certs[v][1]}
			}
			in.Secrets = append(in.Secrets, &corev1.Secret{ObjectMeta: objectMeta("shop-cert"), Type: corev1.SecretTypeTLS, Data: data})
		},
		served: func(s *discovery.Snapshot) string {
			if sec := s.Secret("shop", "shop-cert"); sec != nil {
				for i, c := range certs {
					if string(c[0]) == string(sec.CertChain) {
						return fmt.Sprintf("v%d", i)
					}
				}
				return "unknown"
			}
			return ""
		},
	}, {
		kind: "DestinationRule",
		add: func(t *testing.T, in *discovery.Input, v int) {
			subsets := []string{"[{name: a, labels: {x: a}}]", "[{name: b, labels: {x: b}}]", "[{name: a, labels: {x: a}}, {name: a, labels: {x: b}}]"}[v]
			in.DestinationRules = append(in.DestinationRules, &discovery.DestinationRule{Meta: discovery.Meta{Kind: "DestinationRule", Name: "orders", Namespace: "shop"},
				Spec: specOf(t, &networking.DestinationRule{}, "host: orders\nsubsets: "+subsets+"\n")})
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
		kind: "Gateway",
		add: func(t *testing.T, in *discovery.Input, v int) {
			port := []int{8080, 8081, 0}[v]
			in.Gateways = append(in.Gateways, &discovery.Gateway{Meta: discovery.Meta{Kind: "Gateway", Name: "edge", Namespace: "shop"},
				Spec: specOf(t, &networking.Gateway{}, fmt.Sprintf("servers: [{port: {number: %d, name: http, protocol: HTTP}, hosts: ['*']}]\n", port))})
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
		kind: "AuthorizationPolicy",
		add: func(t *testing.T, in *discovery.Input, v int) {
			paths := []string{`["/a"]`, `["/b"]`, `[""]`}[v]
			in.AuthorizationPolicies = append(in.AuthorizationPolicies, &discovery.AuthorizationPolicy{Meta: discovery.Meta{Kind: "AuthorizationPolicy", Name: "deny", Namespace: "shop"},
				Spec: specOf(t, &security.AuthorizationPolicy{}, "{action: DENY, rules: [{to: [{operation: {paths: "+paths+"}}]}]}")})
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
		kind: "RequestAuthentication",
		add: func(t *testing.T, in *discovery.Input, v int) {
			issuer := []string{"https://a.example", "https://b.example", ""}[v]
			in.RequestAuthentications = append(in.RequestAuthentications, &discovery.RequestAuthentication{Meta: discovery.Meta{Kind: "RequestAuthentication", Name: "jwt", Namespace: "shop"},
				Spec: specOf(t, &security.RequestAuthentication{}, fmt.Sprintf("jwtRules: [{issuer: %q, jwksUri: \"https://keys.example/jwks\"}]", issuer))})
		},
		served: func(s *discovery.Snapshot) string {
			for _, ra := range s.RequestAuthentications {
				if ra.Name == "jwt" {
					return map[string]string{"https://a.example": "v0", "https://b.example": "v1"}[ra.Spec.JwtRules[0].Issuer]
				}
			}
			return ""
		},
	}, {
		kind: "EnvoyFilter",
		add: func(t *testing.T, in *discovery.Input, v int) {
			patches := "[]"
			if v < 2 {
				patches = fmt.Sprintf(`[{applyTo: HTTP_FILTER, match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: %s}}}}}, patch: {operation: REMOVE}}]`,
					[]string{"envoy.filters.http.cors", "envoy.filters.http.fault"}[v])
			}
			in.EnvoyFilters = append(in.EnvoyFilters, &discovery.EnvoyFilter{Meta: discovery.Meta{Kind: "EnvoyFilter", Name: "patch", Namespace: "shop"},
				Spec: specOf(t, &networkingv1alpha3.EnvoyFilter{}, "configPatches: "+patches)})
		},
		served: func(s *discovery.Snapshot) string {
			for _, ef := range s.EnvoyFilters {
				if ef.Name == "patch" {
					return map[string]string{"envoy.filters.http.cors": "v0", "envoy.filters.http.fault": "v1"}[ef.Spec.ConfigPatches[0].GetMatch().GetListener().GetFilterChain().GetFilter().GetSubFilter().GetName()]
				}
			}
			return ""
		},
	}, {
		kind: "RateLimitPolicy",
		add: func(t *testing.T, in *discovery.Input, v int) {
			requests := []uint32{10, 20, 0}[v]
			in.RateLimitPolicies = append(in.RateLimitPolicies, &discovery.RateLimitPolicy{Meta: discovery.Meta{Kind: "RateLimitPolicy", Name: "limit", Namespace: "shop"},
				Spec: &rl.RateLimitPolicySpec{Selector: &rl.WorkloadSelector{MatchLabels: map[string]string{"app": "catalogue"}},
					Local: &rl.LocalRateLimit{Rules: []rl.Rule{{Limit: rl.Limit{Requests: requests, Unit: rl.Minute}}}}}})
		},
		served: func(s *discovery.Snapshot) string {
			for _, p := range s.RateLimitPolicies {
				if p.Name == "limit" {
					return map[uint32]string{10: "v0", 20: "v1"}[p.Spec.Local.Rules[0].Limit.Requests]
				}
			}
			return ""
		},
	}, {
		kind: "PeerAuthentication",
		add: func(t *testing.T, in *discovery.Input, v int) {
			spec := []string{"mtls: {mode: STRICT}", "mtls: {mode: PERMISSIVE}", "mtls: {mode: STRICT}\nportLevelMtls: {8080: {mode: DISABLE}}"}[v]
			in.PeerAuthentications = append(in.PeerAuthentications, &discovery.PeerAuthentication{Meta: discovery.Meta{Kind: "PeerAuthentication", Name: "mtls", Namespace: "shop"},
				Spec: specOf(t, &security.PeerAuthentication{}, spec)})
		},
		served: func(s *discovery.Snapshot) string {
			for _, pa := range s.PeerAuthentications {
				if pa.Name == "mtls" {
					return map[security.PeerAuthentication_MutualTLS_Mode]string{security.PeerAuthentication_MutualTLS_STRICT: "v0", security.PeerAuthentication_MutualTLS_PERMISSIVE: "v1"}[pa.Spec.GetMtls().GetMode()]
				}
			}
			return ""
		},
	}, {
		kind: "VirtualService",
		add: func(t *testing.T, in *discovery.Input, v int) {
			// An 80/20 canary, then 70/30; the bad edit adds up to 110.
			v1 := []int{80, 70, 80}[v]
			v2 := []int{20, 30, 30}[v]
			in.VirtualServices = append(in.VirtualServices, &discovery.VirtualService{Meta: discovery.Meta{Kind: "VirtualService", Name: "catalogue", Namespace: "shop"},
				Spec: specOf(t, &networking.VirtualService{}, fmt.Sprintf(`hosts: [catalogue]
http:
- route:
  - {destination: {host: catalogue, subset: v1}, weight: %d}
  - {destination: {host: catalogue, subset: v2}, weight: %d}
`, v1, v2))})
		},
		served: func(s *discovery.Snapshot) string {
			for _, vs := range s.VirtualServices {
				if vs.Name == "catalogue" {
					return map[int32]string{80: "v0", 70: "v1"}[vs.Spec.Http[0].Route[0].Weight]
				}
			}
			return ""
		},
	}}
}

// TestLastGoodPerKind: for every kind, an edit that makes the object
// invalid keeps its last valid version served, with a problem saying so;
// a fix replaces it; a deletion forgets it, so that an invalid object
// written after the deletion (never valid since) is skipped.
func TestLastGoodPerKind(t *testing.T) {
	for _, tc := range lastGoodCases(t) {
		t.Run(tc.kind, func(t *testing.T) {
			b := discovery.NewBuilder()
			build := func(v int) *discovery.Snapshot {
				in := context(t)
				if v >= 0 {
					tc.add(t, &in, v)
				}
				return b.Build(in).Seal()
			}
			steps := []struct {
				version     int // -1: the object is deleted
				served      string
				stillServed bool // the problem says the previous version is served
			}{
				{0, "v0", false},
				{2, "v0", true},
				{1, "v1", false},
				{2, "v1", true},
				{2, "v1", true},
				{-1, "", false},
				{2, "", false},
				{0, "v0", false},
			}
			for i, step := range steps {
				s := build(step.version)
				if got := tc.served(s); got != step.served {
					t.Errorf("step %d (version %d): serves %q, want %q; problems %v", i, step.version, got, step.served, s.Problems)
				}
				problems := problemsOf(s, tc.kind)
				switch {
				case step.version == 2 && len(problems) == 0:
					t.Errorf("step %d: the invalid version is not reported", i)
				case step.version != 2 && len(problems) > 0:
					t.Errorf("step %d: problems %v, want none", i, problems)
				}
				for _, p := range problems {
					if strings.HasSuffix(p.Reason, discovery.StillServed) != step.stillServed {
						t.Errorf("step %d: problem %q; want it to say the previous version is served: %v", i, p, step.stillServed)
					}
				}
			}
		})
	}
}

func caseOf(t *testing.T, kind string) lastGoodCase {
	for _, c := range lastGoodCases(t) {
		if c.kind == kind {
			return c
		}
	}
	t.Fatalf("no case for %s", kind)
	return lastGoodCase{}
}

func problemsOf(s *discovery.Snapshot, kind string) []discovery.Problem {
	var out []discovery.Problem
	for _, p := range s.Problems {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// TestLastGoodIsCheckedAgainstTheMeshNow: the last good version of a
// discovery.VirtualService is not served once the subset it routes to is gone (it
// would route to nothing), and is served again when the subset is back.
func TestLastGoodIsCheckedAgainstTheMeshNow(t *testing.T) {
	b := discovery.NewBuilder()
	vs := caseOf(t, "VirtualService")
	build := func(vsVersion int, subsets string) *discovery.Snapshot {
		in := context(t)
		in.DestinationRules[0].Spec = specOf(t, &networking.DestinationRule{}, "host: catalogue\nsubsets: "+subsets+"\n")
		vs.add(t, &in, vsVersion)
		return b.Build(in).Seal()
	}
	both := "[{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]"
	if got := vs.served(build(0, both)); got != "v0" {
		t.Fatalf("serves %q, want v0", got)
	}
	s := build(2, "[{name: v1, labels: {version: v1}}]")
	if got := vs.served(s); got != "" {
		t.Errorf("without subset v2 serves %q, want nothing", got)
	}
	for _, p := range problemsOf(s, "VirtualService") {
		if strings.HasSuffix(p.Reason, discovery.StillServed) {
			t.Errorf("problem %q says a version is served, none is", p)
		}
	}
	if got := vs.served(build(2, both)); got != "v0" {
		t.Errorf("with subset v2 back serves %q, want the last good v0", got)
	}
}

// TestLastGoodOfAnUnreadableObject: an object whose current version could
// not be decoded at all (discovery.Input.Unreadable) keeps its last good version.
func TestLastGoodOfAnUnreadableObject(t *testing.T) {
	b := discovery.NewBuilder()
	vs := caseOf(t, "VirtualService")
	in := context(t)
	vs.add(t, &in, 0)
	b.Build(in)

	in = context(t)
	in.Unreadable = []discovery.Problem{{Source: "vs.yaml#0", Kind: "VirtualService", Name: "shop/catalogue", Field: "spec.http[0].route[0].weigth", Reason: `unknown field "weigth"`}}
	s := b.Build(in).Seal()
	if got := vs.served(s); got != "v0" {
		t.Errorf("serves %q, want v0", got)
	}
	if ps := problemsOf(s, "VirtualService"); len(ps) != 1 || ps[0].Source != "vs.yaml#0" || !strings.HasSuffix(ps[0].Reason, discovery.StillServed) {
		t.Errorf("problems %v, want the decoding problem, saying the previous version is served", ps)
	}
}

func ptr[T any](v T) *T { return &v }

// A VirtualService that did not change (the same object) is checked again
// when the subsets it names change, and keeps its result while only pods
// change.
func TestUnchangedVirtualServiceIsCheckedAgainstChangedRules(t *testing.T) {
	b := discovery.NewBuilder()
	vs := &discovery.VirtualService{Meta: discovery.Meta{Kind: "VirtualService", Name: "catalogue", Namespace: "shop"},
		Spec: specOf(t, &networking.VirtualService{}, "hosts: [catalogue]\nhttp:\n- route:\n  - destination: {host: catalogue, subset: v3}\n")}
	services := context(t).Services // the same objects in every build
	build := func(subsets string, podIP string) *discovery.Snapshot {
		in := context(t)
		in.Services = services
		in.DestinationRules[0].Spec = specOf(t, &networking.DestinationRule{}, "host: catalogue\nsubsets: "+subsets+"\n")
		in.Pods[0].Status.PodIP = podIP
		in.VirtualServices = []*discovery.VirtualService{vs}
		return b.Build(in).Seal()
	}
	without := "[{name: v1, labels: {version: v1}}]"
	with := "[{name: v1, labels: {version: v1}}, {name: v3, labels: {version: v2}}]"
	for i, step := range []struct {
		subsets, podIP string
		served         bool
	}{
		{without, "10.0.0.1", false},
		{with, "10.0.0.1", true},
		{with, "10.0.0.9", true}, // a pod changed: the same result
		{without, "10.0.0.9", false},
	} {
		s := build(step.subsets, step.podIP)
		if served := len(s.VirtualServices) == 1; served != step.served {
			t.Errorf("build %d: served %v, want %v (problems %v)", i, served, step.served, problemsOf(s, "VirtualService"))
		}
	}
}
