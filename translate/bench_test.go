package translate

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	security "istio.io/api/security/v1beta1"
	istiotype "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/discovery/folder"
)

// BenchmarkTranslateDemoMesh: the whole view of every pod of the demo mesh,
// from a fresh Mesh each time (nothing memoized across iterations).
func BenchmarkTranslateDemoMesh(b *testing.B) {
	snap, err := folder.Load("../examples/sockshop")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		translateAll(snap)
	}
}

// BenchmarkTranslateSyntheticMesh: meshes of S services × 4 pods, every
// pod's view. Shared parts are built once per Mesh, so the cost per proxy
// is its own listeners and inbound clusters.
// mode=captured is the same with every sidecar in iptables mode.
func BenchmarkTranslateSyntheticMesh(b *testing.B) {
	for _, mode := range []InterceptionMode{InterceptNone, InterceptRedirect} {
		for _, services := range []int{10, 100, 500} {
			snap := discoverytest.Synthetic(services, 4)
			b.Run(fmt.Sprintf("mode=%s,services=%d,proxies=%d", mode, services, len(snap.Pods)), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					translateAllAs(snap, mode)
				}
			})
		}
	}
}

func translateAll(snap *discovery.Snapshot) { translateAllAs(snap, InterceptNone) }

func translateAllAs(snap *discovery.Snapshot, mode InterceptionMode) {
	m := NewMesh(snap)
	for _, pod := range snap.Pods {
		m.ForProxy(Proxy{Type: Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace, Interception: mode})
	}
}

// BenchmarkTranslateSyntheticMeshWithPolicies: the synthetic mesh of 500
// services with an ALLOW policy per service (selector, from namespaces,
// to methods and paths), a namespace-wide DENY, a mesh-wide one in the
// root namespace and a RequestAuthentication: the cost of the RBAC and JWT
// filters of every proxy's inbound listener.
func BenchmarkTranslateSyntheticMeshWithPolicies(b *testing.B) {
	snap := withPolicies(discoverytest.Synthetic(500, 4))
	b.Run(fmt.Sprintf("services=500,proxies=%d,policies=%d", len(snap.Pods), len(snap.AuthorizationPolicies)), func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			translateAll(snap)
		}
	})
}

func withPolicies(snap *discovery.Snapshot) *discovery.Snapshot {
	s := *snap
	s.AuthorizationPolicies = nil
	for _, svc := range snap.Services {
		s.AuthorizationPolicies = append(s.AuthorizationPolicies, &discovery.AuthorizationPolicy{
			Meta: discovery.Meta{Kind: "AuthorizationPolicy", Name: svc.Name, Namespace: svc.Namespace},
			Spec: &security.AuthorizationPolicy{
				Selector: &istiotype.WorkloadSelector{MatchLabels: svc.Selector},
				Rules: []*security.Rule{{
					From: []*security.Rule_From{{Source: &security.Source{Namespaces: []string{svc.Namespace}}}},
					To:   []*security.Rule_To{{Operation: &security.Operation{Methods: []string{"GET"}, Paths: []string{"/api/*"}}}},
				}},
			},
		})
	}
	deny := &security.AuthorizationPolicy{Action: security.AuthorizationPolicy_DENY, Rules: []*security.Rule{{
		To: []*security.Rule_To{{Operation: &security.Operation{Paths: []string{"/admin/*"}}}},
	}}}
	s.AuthorizationPolicies = append(s.AuthorizationPolicies,
		&discovery.AuthorizationPolicy{Meta: discovery.Meta{Kind: "AuthorizationPolicy", Name: "deny-admin", Namespace: "load"}, Spec: deny},
		&discovery.AuthorizationPolicy{Meta: discovery.Meta{Kind: "AuthorizationPolicy", Name: "deny-admin", Namespace: discovery.DefaultRootNamespace}, Spec: deny})
	s.RequestAuthentications = []*discovery.RequestAuthentication{{
		Meta: discovery.Meta{Kind: "RequestAuthentication", Name: "jwt", Namespace: "load"},
		Spec: &security.RequestAuthentication{JwtRules: []*security.JWTRule{{Issuer: "https://issuer.example", JwksUri: "https://issuer.example/jwks.json"}}},
	}}
	return s.Seal()
}

// BenchmarkServiceIdentities: the SPIFFE IDs each service's servers may
// present, at 1000 services × 10 pods, which SameServiceIdentities makes
// for every new mesh (every endpoint change): from scratch, and following
// a mesh whose endpoints differ in one service's list.
func BenchmarkServiceIdentities(b *testing.B) {
	snap := discoverytest.Synthetic(1000, 10)
	for _, pod := range snap.Pods {
		pod.Labels[discovery.TLSModeLabel] = "istio" // every pod has a sidecar
	}
	snap.Seal()
	if ids := NewMesh(snap).buildServiceIdentities(); len(ids.byHost) != 1000 {
		b.Fatalf("identities of %d services, want 1000", len(ids.byHost))
	}
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewMesh(snap).buildServiceIdentities()
		}
	})
	b.Run("following", func(b *testing.B) {
		earlier := NewMesh(snap)
		next := *snap
		next.Endpoints = maps.Clone(snap.Endpoints)
		key := snap.Services[0].Key()
		next.Endpoints[key] = slices.Clone(snap.Endpoints[key])
		b.ReportAllocs()
		for b.Loop() {
			NewMeshFollowing(earlier, &next).buildServiceIdentities()
		}
	})
}
