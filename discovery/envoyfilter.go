package discovery

import (
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// EnvoyFilter is an Istio EnvoyFilter (networking.istio.io/v1alpha3): a set
// of patches that translate applies to the Envoy config of the proxies it
// selects, after translation. Discovery checks its structure; the patch
// values are Envoy config, decoded (and checked against Envoy's own
// validation) by translate, which owns the Envoy types.
type EnvoyFilter struct {
	Meta
	Spec *networkingv1alpha3.EnvoyFilter
}

// SelectsPod reports whether the EnvoyFilter applies to the proxy of pod,
// as Istio scopes them: an EnvoyFilter of the root namespace (root, see
// Snapshot.Root) applies to every namespace, any other to its own; a
// workloadSelector must match the pod's labels (none: every pod in scope).
func (f *EnvoyFilter) SelectsPod(root string, pod *Pod) bool {
	if f.Namespace != root && f.Namespace != pod.Namespace {
		return false
	}
	return selects(f.Spec.GetWorkloadSelector().GetLabels(), pod.Labels)
}
