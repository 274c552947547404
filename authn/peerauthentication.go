package authn

import (
	"sort"

	security "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

// MTLSMode is what a workload port requires of the traffic it accepts, as
// Istio resolves it from PeerAuthentications.
type MTLSMode int

const (
	// Permissive accepts mutual TLS and plaintext on the same port: the
	// mesh default when no policy says otherwise.
	Permissive MTLSMode = iota
	// Strict accepts mutual TLS only.
	Strict
	// Disable accepts plaintext only.
	Disable
)

func (m MTLSMode) String() string {
	switch m {
	case Strict:
		return "STRICT"
	case Disable:
		return "DISABLE"
	}
	return "PERMISSIVE"
}

// PeerPolicies resolves the mTLS mode of workload ports from a snapshot's
// PeerAuthentications, as Istio's policy applier does:
//
//	mesh       the policy without selector in the root namespace
//	namespace  the policy without selector in the workload's namespace
//	workload   a policy whose selector matches the workload's labels, in
//	           its namespace or in the root namespace
//	port       that workload policy's portLevelMtls[target port]
//
// Each level that sets a mode (not UNSET) overrides the one above it; with
// none, a port is PERMISSIVE. Where two policies compete at one level, the
// oldest wins (creation time, then name). Pure: no clocks, no I/O.
type PeerPolicies struct {
	root       string
	mesh       *discovery.PeerAuthentication
	namespaces map[string]*discovery.PeerAuthentication
	selectors  []*discovery.PeerAuthentication // oldest first
}

// NewPeerPolicies indexes the policies of a snapshot.
func NewPeerPolicies(policies []*discovery.PeerAuthentication, rootNamespace string) *PeerPolicies {
	if rootNamespace == "" {
		rootNamespace = discovery.DefaultRootNamespace
	}
	sorted := append([]*discovery.PeerAuthentication(nil), policies...)
	sort.SliceStable(sorted, func(i, j int) bool { return older(sorted[i], sorted[j]) })
	p := &PeerPolicies{root: rootNamespace, namespaces: map[string]*discovery.PeerAuthentication{}}
	for _, pa := range sorted {
		switch {
		case len(pa.Spec.GetSelector().GetMatchLabels()) > 0:
			p.selectors = append(p.selectors, pa)
		case pa.Namespace == rootNamespace:
			if p.mesh == nil {
				p.mesh = pa
			}
		case p.namespaces[pa.Namespace] == nil:
			p.namespaces[pa.Namespace] = pa
		}
	}
	return p
}

func older(a, b *discovery.PeerAuthentication) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.Before(b.Created)
	}
	return a.Key() < b.Key()
}

// Mode is the mode of one of a pod's target ports.
func (p *PeerPolicies) Mode(pod *discovery.Pod, port uint32) MTLSMode {
	mode := Permissive
	apply := func(m *security.PeerAuthentication_MutualTLS) {
		switch m.GetMode() {
		case security.PeerAuthentication_MutualTLS_STRICT:
			mode = Strict
		case security.PeerAuthentication_MutualTLS_DISABLE:
			mode = Disable
		case security.PeerAuthentication_MutualTLS_PERMISSIVE:
			mode = Permissive
		}
	}
	apply(policyMTLS(p.mesh))
	if pod.Namespace != p.root {
		apply(policyMTLS(p.namespaces[pod.Namespace]))
	}
	if w := p.workloadPolicy(pod); w != nil {
		apply(w.Spec.GetMtls())
		apply(w.Spec.GetPortLevelMtls()[port])
	}
	return mode
}

func policyMTLS(pa *discovery.PeerAuthentication) *security.PeerAuthentication_MutualTLS {
	if pa == nil {
		return nil
	}
	return pa.Spec.GetMtls()
}

// workloadPolicy is the oldest selector policy that matches the pod.
func (p *PeerPolicies) workloadPolicy(pod *discovery.Pod) *discovery.PeerAuthentication {
	for _, pa := range p.selectors {
		if (pa.Namespace == pod.Namespace || pa.Namespace == p.root) && pa.Selects(pod) {
			return pa
		}
	}
	return nil
}
