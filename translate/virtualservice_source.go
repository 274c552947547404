package translate

import (
	"sort"
	"strings"

	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// meshGateway is the reserved gateway name of sidecars: a match block that
// lists gateways applies to sidecars only if it lists "mesh".
const meshGateway = "mesh"

// routeSource is who a route table is built for. Istio's match.sourceLabels,
// match.sourceNamespace and match.gateways select on the client, not the
// request, so they are settled while translating: a match block for other
// clients is left out of this proxy's routes.
type routeSource struct {
	namespace string
	labels    map[string]string // the proxy's pod labels
	gateways  []string          // names the proxy answers to in match.gateways
	key       string            // equal keys, equal route tables (see sourceKey)
	explain   *provenance       // explain.go: records where routes come from; nil when serving
}

// sidecarSource is the routeSource of a sidecar in namespace whose pod has
// labels. selectors are the mesh's sourceLabels selectors (sourceSelectors).
func sidecarSource(namespace string, labels map[string]string, selectors []map[string]string) routeSource {
	return routeSource{
		namespace: namespace,
		labels:    labels,
		gateways:  []string{meshGateway},
		key:       sourceKey(namespace, labels, selectors),
	}
}

// sourceKey: the route tables of two sidecars differ only through their
// namespace (domains, sourceNamespace) and the sourceLabels selectors their
// labels satisfy. So namespace + the selectors satisfied is a memo key: all
// pods that satisfy none share the namespace's one table, as before.
func sourceKey(namespace string, labels map[string]string, selectors []map[string]string) string {
	parts := []string{namespace}
	for _, sel := range selectors {
		if hasLabels(labels, sel) {
			parts = append(parts, selectorString(sel))
		}
	}
	return strings.Join(parts, "\x00")
}

// sourceSelectors lists, once per snapshot, the distinct non-empty
// match.sourceLabels of the mesh-bound VirtualServices, in a stable order.
// All of them, not only those indexed for some host: which VirtualService
// a namespace's proxies see for a host depends on exportTo, and a key
// with a selector too many only splits tables, never merges two that differ.
func sourceSelectors(virtualServices []*discovery.VirtualService) []map[string]string {
	seen := map[string]map[string]string{}
	for _, vs := range virtualServices {
		if !boundToMesh(vs.Spec) {
			continue
		}
		for _, rule := range vs.Spec.GetHttp() {
			for _, m := range rule.GetMatch() {
				if sel := m.GetSourceLabels(); len(sel) > 0 {
					seen[selectorString(sel)] = sel
				}
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]map[string]string, len(keys))
	for i, k := range keys {
		out[i] = seen[k]
	}
	return out
}

// selectorString renders labels as sorted k=v pairs, one canonical string per selector.
func selectorString(sel map[string]string) string {
	pairs := make([]string, 0, len(sel))
	for k, v := range sel {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// appliesTo follows Istio: a match block listing gateways applies when one
// of them is the proxy's; otherwise its sourceLabels must be a subset of the
// proxy's labels and its sourceNamespace, when set, the proxy's namespace.
func appliesTo(m *networking.HTTPMatchRequest, src routeSource) bool {
	if m == nil {
		return true
	}
	if gws := m.GetGateways(); len(gws) > 0 {
		for _, g := range gws {
			for _, own := range src.gateways {
				if g == own {
					return true
				}
			}
		}
		return false
	}
	if !hasLabels(src.labels, m.GetSourceLabels()) {
		return false
	}
	return m.GetSourceNamespace() == "" || m.GetSourceNamespace() == src.namespace
}

// proxySource is the routeSource of a connecting proxy; a pod that is not
// (yet) in the snapshot has no labels.
func (m *Mesh) proxySource(p Proxy) routeSource {
	var labels map[string]string
	if pod := m.snap.Pod(p.Namespace, p.PodName); pod != nil {
		labels = pod.Labels
	}
	src := sidecarSource(p.Namespace, labels, m.sourceSelectors())
	src.explain = m.explain
	return src
}
