package discovery

import "strings"

// Workload names, as Istio's telemetry labels them (source_workload,
// destination_canonical_service, ...): see Istio's
// pkg/model/labels and the canonical-service rules of its injector.

// Labels Istio reads a pod's canonical service and revision from, in order.
var (
	canonicalServiceLabels  = []string{"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"}
	canonicalRevisionLabels = []string{"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"}
)

// WorkloadName is the pod's workload: its Deployment's name when the pod
// carries a pod-template-hash (name-<hash>-<suffix>), else the pod's name.
func (p *Pod) WorkloadName() string {
	if hash := p.Labels["pod-template-hash"]; hash != "" {
		if i := strings.LastIndex(p.Name, "-"+hash+"-"); i > 0 {
			return p.Name[:i]
		}
	}
	return p.Name
}

// CanonicalService is the service a pod belongs to for telemetry: the
// first of Istio's labels it carries, else its workload name.
func (p *Pod) CanonicalService() string {
	for _, l := range canonicalServiceLabels {
		if v := p.Labels[l]; v != "" {
			return v
		}
	}
	return p.WorkloadName()
}

// CanonicalRevision is the pod's version for telemetry, "latest" when no
// label says.
func (p *Pod) CanonicalRevision() string {
	for _, l := range canonicalRevisionLabels {
		if v := p.Labels[l]; v != "" {
			return v
		}
	}
	return "latest"
}
