package translate

import (
	"strings"

	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// Which VirtualServices a proxy sees (exportTo), which of them bind to a
// Gateway (spec.gateways), and which host names they serve there.

// visibleConfig is what proxies in one namespace see of the rules.
type visibleConfig struct {
	virtualServices []*discovery.VirtualService // exported to the namespace
	meshBound       []*discovery.VirtualService // of those, the ones for sidecars
	rules           *rules                      // the index of those, for route tables
}

// visibleFrom is the visibleConfig of a namespace, built once per Mesh.
// (Two proxies may build it at once; they build the same, one is kept.)
func (m *Mesh) visibleFrom(namespace string) *visibleConfig {
	if v, ok := m.visible.Load(namespace); ok {
		return v.(*visibleConfig)
	}
	v := &visibleConfig{virtualServices: visibleVirtualServices(m.snap, namespace)}
	for _, vs := range v.virtualServices {
		if boundToMesh(vs.Spec) {
			v.meshBound = append(v.meshBound, vs)
		}
	}
	v.rules = rulesVisibleFrom(m.snap, v.virtualServices)
	actual, _ := m.visible.LoadOrStore(namespace, v)
	return actual.(*visibleConfig)
}

// visibleVirtualServices are the VirtualServices exported to namespace
// (spec.exportTo: "*" or absent for all, "." for their own namespace, or
// namespace names), in snapshot order. Istio judges visibility from the
// proxy's namespace, for sidecars and gateways alike.
func visibleVirtualServices(snap *discovery.Snapshot, namespace string) []*discovery.VirtualService {
	var out []*discovery.VirtualService
	for _, vs := range snap.VirtualServices {
		if discovery.ExportedTo(vs.Spec.GetExportTo(), vs.Namespace, namespace) {
			out = append(out, vs)
		}
	}
	return out
}

// rulesVisibleFrom indexes the rules as a proxy sees them: the same
// DestinationRules, and only the VirtualServices visible to it.
func rulesVisibleFrom(snap *discovery.Snapshot, visible []*discovery.VirtualService) *rules {
	if len(visible) == len(snap.VirtualServices) {
		return indexRules(snap) // nothing hidden: the common case
	}
	view := *snap // shallow: shares every list and index but this one
	view.VirtualServices = visible
	return indexRules(&view)
}

// bindsTo reports whether a VirtualService lists the Gateway in
// spec.gateways, as "namespace/name" or, from the Gateway's own namespace,
// as "name".
func bindsTo(vs *discovery.VirtualService, gw *discovery.Gateway) bool {
	for _, g := range vs.Spec.GetGateways() {
		if g == gw.Namespace+"/"+gw.Name || (g == gw.Name && vs.Namespace == gw.Namespace) {
			return true
		}
	}
	return false
}

// gatewayNames are the names a match block's gateways field may use for gw,
// seen from a VirtualService in namespace.
func gatewayNames(gw *discovery.Gateway, namespace string) []string {
	names := []string{gw.Namespace + "/" + gw.Name}
	if namespace == gw.Namespace {
		names = append(names, gw.Name)
	}
	return names
}

// gatewayVSHost reads a VirtualService host as a gateway serves it. A
// short name is a service of the VirtualService's namespace, as in Istio;
// anything with a dot ("shop.example.com") is an external name, kept as
// written (unlike ResolveHost, which reads "a.b" as service.namespace).
func gatewayVSHost(host, namespace string) string {
	if strings.HasPrefix(host, "*") || strings.Contains(host, ".") {
		return host
	}
	return discovery.ResolveHost(host, namespace)
}

// serverAdmits reports whether a server host ("namespace/host") lets a
// VirtualService of vsNamespace bind, and the host it then serves: the
// narrower of the two when one covers the other.
func serverAdmits(serverHost string, gw *discovery.Gateway, vsNamespace, vsHost string) (string, bool) {
	ns, host := discovery.SplitGatewayHost(serverHost)
	switch {
	case ns == ".":
		if vsNamespace != gw.Namespace {
			return "", false
		}
	case ns != "*" && ns != vsNamespace:
		return "", false
	}
	return hostIntersection(host, vsHost)
}

// hostIntersection is the narrower of two host patterns when one covers the
// other: "*" and "shop.example.com" give "shop.example.com",
// "*.example.com" and "*.shop.example.com" give the latter.
func hostIntersection(a, b string) (string, bool) {
	switch {
	case hostPatternCovers(a, b):
		return b, true
	case hostPatternCovers(b, a):
		return a, true
	}
	return "", false
}

// hostPatternCovers: "*" covers everything, "*.example.com" covers names
// (and wildcards) under example.com, a name covers itself.
func hostPatternCovers(pattern, host string) bool {
	if pattern == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// serverHostNames are the host parts of a server's hosts, in order, once
// each.
func serverHostNames(s *networking.Server) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range s.GetHosts() {
		_, host := discovery.SplitGatewayHost(h)
		if !seen[host] {
			seen[host] = true
			out = append(out, host)
		}
	}
	return out
}
