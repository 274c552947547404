package discovery

import (
	"sort"
	"strings"
	"time"

	networking "istio.io/api/networking/v1"
)

// Sidecar is an Istio Sidecar (networking.istio.io v1, v1beta1, v1alpha3):
// what the sidecars it applies to may reach. Its egress hosts name the
// services (and VirtualServices) a proxy gets clusters, endpoints and routes
// for; everything else stays out of the proxy's config, so that a proxy
// that talks to ten services costs what ten services cost.
type Sidecar struct {
	Meta
	// Created is metadata.creationTimestamp: of two Sidecars that would
	// apply to a workload, the oldest does, as in Istio. A folder object
	// without one counts as oldest; then names decide.
	Created time.Time
	Spec    *networking.Sidecar
}

// SidecarFor is the Sidecar that applies to a pod's sidecar, as Istio
// picks it: a Sidecar of the pod's namespace whose workloadSelector
// matches the pod; else the namespace's Sidecar without a selector; else
// the root namespace's Sidecar without a selector (the mesh's default).
// Among several, the oldest, then the first by name. nil: none applies,
// and the proxy may reach every service it can see.
func (s *Snapshot) SidecarFor(pod *Pod) *Sidecar {
	if pod == nil {
		return nil
	}
	var selected, namespaceDefault, meshDefault *Sidecar
	for _, sc := range s.sidecarsByNS[pod.Namespace] {
		sel := sc.Spec.GetWorkloadSelector().GetLabels()
		switch {
		case len(sel) == 0:
			namespaceDefault = older(namespaceDefault, sc)
		case selects(sel, pod.Labels):
			selected = older(selected, sc)
		}
	}
	if root := s.Root(); root != pod.Namespace {
		for _, sc := range s.sidecarsByNS[root] {
			if len(sc.Spec.GetWorkloadSelector().GetLabels()) == 0 {
				meshDefault = older(meshDefault, sc)
			}
		}
	}
	switch {
	case selected != nil:
		return selected
	case namespaceDefault != nil:
		return namespaceDefault
	}
	return meshDefault
}

// older is the one of two Sidecars that Istio would pick; a may be nil.
// Sidecars come sorted by name, so on equal times the first one stays.
func older(a, b *Sidecar) *Sidecar {
	if a == nil || b.Created.Before(a.Created) {
		return b
	}
	return a
}

// SidecarHost is one egress host of a Sidecar, "namespace/dnsName".
type SidecarHost struct {
	// Namespace is a namespace's name, "*" for every namespace, "." for the
	// proxy's own (a Sidecar applies to its own namespace's proxies, and
	// the root namespace's default to each proxy's), "~" for none.
	Namespace string
	// Host is "*", "*.suffix" or a full name.
	Host string
}

// ParseSidecarHost splits "namespace/dnsName"; false when there is no
// namespace part (validation reports it).
func ParseSidecarHost(h string) (SidecarHost, bool) {
	ns, host, ok := strings.Cut(h, "/")
	if !ok {
		return SidecarHost{}, false
	}
	return SidecarHost{Namespace: ns, Host: host}, true
}

// Matches reports whether the host admits a name of namespace ns, for a
// proxy of namespace proxyNS.
func (h SidecarHost) Matches(ns, name, proxyNS string) bool {
	switch h.Namespace {
	case "~":
		return false
	case "*":
	case ".":
		if ns != proxyNS {
			return false
		}
	default:
		if ns != h.Namespace {
			return false
		}
	}
	return hostCovers(h.Host, name)
}

// SidecarEgress is one egress listener of a Sidecar, parsed: the port it
// is for (0: every port) and its hosts.
type SidecarEgress struct {
	Port  uint32
	Hosts []SidecarHost
}

// Egress lists the Sidecar's egress listeners, parsed. A Sidecar without
// egress lets its proxies reach everything, as in Istio.
func (sc *Sidecar) Egress() []SidecarEgress {
	var out []SidecarEgress
	for _, e := range sc.Spec.GetEgress() {
		eg := SidecarEgress{Port: e.GetPort().GetNumber()}
		for _, h := range e.GetHosts() {
			if host, ok := ParseSidecarHost(h); ok {
				eg.Hosts = append(eg.Hosts, host)
			}
		}
		out = append(out, eg)
	}
	return out
}

func indexSidecars(sidecars []*Sidecar) map[string][]*Sidecar {
	out := map[string][]*Sidecar{}
	for _, sc := range sidecars {
		out[sc.Namespace] = append(out[sc.Namespace], sc)
	}
	for _, list := range out {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	}
	return out
}
