package authn

import (
	"testing"
	"time"

	security "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

func policy(ns, name string, created int, selector map[string]string, mode security.PeerAuthentication_MutualTLS_Mode, ports map[uint32]security.PeerAuthentication_MutualTLS_Mode) *discovery.PeerAuthentication {
	spec := &security.PeerAuthentication{Mtls: &security.PeerAuthentication_MutualTLS{Mode: mode}}
	if selector != nil {
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
	}
	for port, m := range ports {
		if spec.PortLevelMtls == nil {
			spec.PortLevelMtls = map[uint32]*security.PeerAuthentication_MutualTLS{}
		}
		spec.PortLevelMtls[port] = &security.PeerAuthentication_MutualTLS{Mode: m}
	}
	return &discovery.PeerAuthentication{
		Meta:    discovery.Meta{Kind: "PeerAuthentication", Name: name, Namespace: ns},
		Created: time.Unix(int64(created), 0),
		Spec:    spec,
	}
}

const (
	unset      = security.PeerAuthentication_MutualTLS_UNSET
	strict     = security.PeerAuthentication_MutualTLS_STRICT
	permissive = security.PeerAuthentication_MutualTLS_PERMISSIVE
	disable    = security.PeerAuthentication_MutualTLS_DISABLE
)

func TestPeerPolicyModes(t *testing.T) {
	web := &discovery.Pod{Meta: discovery.Meta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}}}
	db := &discovery.Pod{Meta: discovery.Meta{Name: "db", Namespace: "shop", Labels: map[string]string{"app": "db"}}}
	other := &discovery.Pod{Meta: discovery.Meta{Name: "x", Namespace: "other", Labels: map[string]string{"app": "web"}}}
	for _, tc := range []struct {
		name     string
		policies []*discovery.PeerAuthentication
		pod      *discovery.Pod
		port     uint32
		want     MTLSMode
	}{
		{"no policy: PERMISSIVE", nil, web, 8080, Permissive},
		{"mesh STRICT", []*discovery.PeerAuthentication{policy("istio-system", "default", 1, nil, strict, nil)}, web, 8080, Strict},
		{"a namespace called like the root elsewhere is not the mesh", []*discovery.PeerAuthentication{policy("shop", "default", 1, nil, strict, nil)}, other, 8080, Permissive},
		{"namespace over mesh", []*discovery.PeerAuthentication{
			policy("istio-system", "default", 1, nil, strict, nil), policy("shop", "default", 2, nil, permissive, nil)}, web, 8080, Permissive},
		{"namespace UNSET inherits the mesh", []*discovery.PeerAuthentication{
			policy("istio-system", "default", 1, nil, strict, nil), policy("shop", "default", 2, nil, unset, nil)}, web, 8080, Strict},
		{"workload DISABLE in a STRICT namespace", []*discovery.PeerAuthentication{
			policy("shop", "default", 1, nil, strict, nil), policy("shop", "db", 2, map[string]string{"app": "db"}, disable, nil)}, db, 5432, Disable},
		{"the workload policy selects only its pods", []*discovery.PeerAuthentication{
			policy("shop", "default", 1, nil, strict, nil), policy("shop", "db", 2, map[string]string{"app": "db"}, disable, nil)}, web, 8080, Strict},
		{"portLevelMtls on the target port", []*discovery.PeerAuthentication{
			policy("shop", "default", 1, nil, strict, nil), policy("shop", "web", 2, map[string]string{"app": "web"}, unset, map[uint32]security.PeerAuthentication_MutualTLS_Mode{9000: disable})}, web, 9000, Disable},
		{"portLevelMtls leaves other ports", []*discovery.PeerAuthentication{
			policy("shop", "default", 1, nil, strict, nil), policy("shop", "web", 2, map[string]string{"app": "web"}, unset, map[uint32]security.PeerAuthentication_MutualTLS_Mode{9000: disable})}, web, 8080, Strict},
		{"portLevelMtls UNSET inherits the workload", []*discovery.PeerAuthentication{
			policy("shop", "web", 2, map[string]string{"app": "web"}, strict, map[uint32]security.PeerAuthentication_MutualTLS_Mode{9000: unset})}, web, 9000, Strict},
		{"the oldest workload policy wins", []*discovery.PeerAuthentication{
			policy("shop", "b-newer", 5, map[string]string{"app": "web"}, disable, nil), policy("shop", "a-older", 3, map[string]string{"app": "web"}, strict, nil)}, web, 8080, Strict},
		{"the oldest namespace policy wins", []*discovery.PeerAuthentication{
			policy("shop", "newer", 5, nil, disable, nil), policy("shop", "older", 3, nil, strict, nil)}, web, 8080, Strict},
		{"same age: by name", []*discovery.PeerAuthentication{
			policy("shop", "b", 1, nil, disable, nil), policy("shop", "a", 1, nil, strict, nil)}, web, 8080, Strict},
		{"a root-namespace selector reaches every namespace", []*discovery.PeerAuthentication{
			policy("istio-system", "web-strict", 1, map[string]string{"app": "web"}, strict, nil)}, other, 8080, Strict},
		{"another namespace's selector does not", []*discovery.PeerAuthentication{
			policy("shop", "web-strict", 1, map[string]string{"app": "web"}, strict, nil)}, other, 8080, Permissive},
	} {
		got := NewPeerPolicies(tc.policies, discovery.DefaultRootNamespace).Mode(tc.pod, tc.port)
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestPeerPolicyRootNamespaceFlag(t *testing.T) {
	pod := &discovery.Pod{Meta: discovery.Meta{Name: "web", Namespace: "shop"}}
	policies := []*discovery.PeerAuthentication{policy("mesh-config", "default", 1, nil, strict, nil)}
	if got := NewPeerPolicies(policies, "mesh-config").Mode(pod, 80); got != Strict {
		t.Errorf("with --root-namespace mesh-config: %s, want STRICT", got)
	}
	if got := NewPeerPolicies(policies, discovery.DefaultRootNamespace).Mode(pod, 80); got != Permissive {
		t.Errorf("with the default root: %s, want PERMISSIVE (mesh-config is an ordinary namespace)", got)
	}
}
