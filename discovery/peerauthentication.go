package discovery

import (
	"time"

	security "istio.io/api/security/v1beta1"
)

// PeerAuthentication is an Istio PeerAuthentication (security.istio.io v1
// or v1beta1, one schema): the mutual TLS mode a workload's sidecar
// requires of the traffic it accepts.
type PeerAuthentication struct {
	Meta
	// Created is metadata.creationTimestamp: at each level (mesh,
	// namespace, workload) the oldest policy wins, as in Istio. A folder
	// object without one counts as oldest; then names decide.
	Created time.Time
	Spec    *security.PeerAuthentication
}

// Selects reports whether the policy's workload selector matches the pod's
// labels (namespaces are the caller's business: a root-namespace policy
// reaches every namespace).
func (pa *PeerAuthentication) Selects(pod *Pod) bool {
	sel := pa.Spec.GetSelector().GetMatchLabels()
	return len(sel) > 0 && selects(sel, pod.Labels)
}

// Sidecar labels and annotations, as Istio's injector writes them.
const (
	// TLSModeLabel says whether a pod's sidecar accepts Istio mutual TLS:
	// "istio" on pods with a sidecar (security.istio.io/tlsMode).
	TLSModeLabel = "security.istio.io/tlsMode"
	// InjectLabel (also an annotation) "false" marks a pod without sidecar.
	InjectLabel = "sidecar.istio.io/inject"
)

// HasSidecar reports whether the pod runs a sidecar that accepts mutual
// TLS from the mesh, so that clients may send it mTLS (auto-mTLS):
//   - the label security.istio.io/tlsMode, when set, decides ("istio");
//   - else sidecar.istio.io/inject: "false" (label or annotation) means no;
//   - else a local-mode pod (the local-address annotation) has one: in a
//     folder every such pod is started with a sidecar. In a cluster, the
//     injector sets the tlsMode label, as Istio's does.
func (p *Pod) HasSidecar() bool {
	if mode, ok := p.Labels[TLSModeLabel]; ok {
		return mode == "istio"
	}
	if p.Labels[InjectLabel] == "false" || p.Annotations[InjectLabel] == "false" {
		return false
	}
	return p.LocalMode()
}
