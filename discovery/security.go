package discovery

import (
	"sort"
	"strings"

	security "istio.io/api/security/v1beta1"
	istiotype "istio.io/api/type/v1beta1"
)

// The security kinds: security.istio.io AuthorizationPolicy and
// RequestAuthentication (v1 and v1beta1 share one schema, v1beta1's).

// DefaultRootNamespace is Istio's meshConfig.rootNamespace default: policies
// there without a selector apply to the whole mesh.
const DefaultRootNamespace = "istio-system"

// AuthorizationPolicy is an Istio AuthorizationPolicy in any served API
// version.
type AuthorizationPolicy struct {
	Meta
	Spec *security.AuthorizationPolicy
}

// RequestAuthentication is an Istio RequestAuthentication in any served API
// version.
type RequestAuthentication struct {
	Meta
	Spec *security.RequestAuthentication
	// Origin is where the object came from, as a Problem's Source says it
	// ("file.yaml#2", or namespace/name in a cluster): the JWKS fetcher
	// reports its failures against it. Not part of the config.
	Origin string
}

// Root is the snapshot's root namespace: RootNamespace, or Istio's default.
func (s *Snapshot) Root() string {
	if s.RootNamespace != "" {
		return s.RootNamespace
	}
	return DefaultRootNamespace
}

// PolicyApplies reports whether a security policy (its metadata and
// selector) applies to a pod, as Istio scopes them: a policy in the root
// namespace applies to the pods of every namespace its selector matches,
// any other to the pods of its own namespace; no selector (or one with no
// labels) matches every pod in scope.
func PolicyApplies(root string, m Meta, selector *istiotype.WorkloadSelector, pod *Pod) bool {
	if m.Namespace != root && m.Namespace != pod.Namespace {
		return false
	}
	return selects(selector.GetMatchLabels(), pod.Labels)
}

// AuthorizationPoliciesFor are the policies that apply to a pod, by
// namespace then name.
func (s *Snapshot) AuthorizationPoliciesFor(pod *Pod) []*AuthorizationPolicy {
	return applying(s.Root(), s.authorizationPoliciesByNS, s.AuthorizationPolicies, pod, func(ap *AuthorizationPolicy) (Meta, *istiotype.WorkloadSelector) {
		return ap.Meta, ap.Spec.GetSelector()
	})
}

// RequestAuthenticationsFor are the RequestAuthentications that apply to a
// pod, by namespace then name.
func (s *Snapshot) RequestAuthenticationsFor(pod *Pod) []*RequestAuthentication {
	return applying(s.Root(), s.requestAuthenticationsByNS, s.RequestAuthentications, pod, func(ra *RequestAuthentication) (Meta, *istiotype.WorkloadSelector) {
		return ra.Meta, ra.Spec.GetSelector()
	})
}

// applying keeps the policies that apply to pod: those of the root
// namespace and of the pod's (from the index Seal builds, or all of them
// before), in namespace/name order.
func applying[T any](root string, byNS map[string][]T, all []T, pod *Pod, scope func(T) (Meta, *istiotype.WorkloadSelector)) []T {
	candidates := all
	if byNS != nil {
		candidates = byNS[root]
		if pod.Namespace != root {
			candidates = append(append([]T(nil), candidates...), byNS[pod.Namespace]...)
		}
	}
	var out []T
	for _, p := range candidates {
		if m, sel := scope(p); PolicyApplies(root, m, sel, pod) {
			out = append(out, p)
		}
	}
	if pod.Namespace < root {
		// The pod's namespace sorts first; each part is sorted already.
		sort.SliceStable(out, func(i, j int) bool {
			mi, _ := scope(out[i])
			mj, _ := scope(out[j])
			return mi.Key() < mj.Key()
		})
	}
	return out
}

// byNamespace indexes sorted objects by namespace.
func byNamespace[T any](items []T, namespace func(T) string) map[string][]T {
	out := map[string][]T{}
	for _, it := range items {
		out[namespace(it)] = append(out[namespace(it)], it)
	}
	return out
}

// JWKSKey is where the key set of a JWT rule is fetched from, and the key
// of Snapshot.JWKS: the rule's jwksUri, or, without one, the issuer's
// OpenID discovery document, which names it. "" when the rule carries its
// keys inline (jwks).
func JWKSKey(rule *security.JWTRule) string {
	switch {
	case rule.GetJwks() != "":
		return ""
	case rule.GetJwksUri() != "":
		return rule.GetJwksUri()
	}
	return strings.TrimSuffix(rule.GetIssuer(), "/") + OpenIDConfigurationPath
}

// OpenIDConfigurationPath is where an issuer publishes its OpenID provider
// metadata (OpenID Connect Discovery 1.0, section 4), whose jwks_uri names
// its keys.
const OpenIDConfigurationPath = "/.well-known/openid-configuration"

// WithJWKS returns a copy of the snapshot that carries the fetched key sets
// (by JWKSKey) and the problems of fetching them. The snapshot itself is
// not changed; the copy shares everything else with it.
func (s *Snapshot) WithJWKS(keys map[string]string, problems []Problem) *Snapshot {
	c := *s
	c.JWKS = keys
	c.Problems = append(append([]Problem(nil), s.Problems...), problems...)
	sortProblems(c.Problems)
	return &c
}
