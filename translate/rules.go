package translate

import (
	"sort"
	"strings"

	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// rules indexes the Istio objects of a snapshot by the FQDN they apply to.
// When several objects name one host, the first by namespace/name wins, so
// the choice is deterministic (Istio merges some cases; we do not yet).
type rules struct {
	destinationRules map[string]*discovery.DestinationRule
	virtualServices  map[string]*discovery.VirtualService // mesh-bound only, by exact host
	// wildcards are mesh-bound VirtualServices for "*" or "*.suffix" hosts,
	// most specific (longest) first.
	wildcards []wildcardRule
}

type wildcardRule struct {
	suffix string // ".sock-shop.svc.cluster.local"; "" for "*"
	vs     *discovery.VirtualService
}

func indexRules(snap *discovery.Snapshot) *rules {
	r := &rules{
		destinationRules: map[string]*discovery.DestinationRule{},
		virtualServices:  map[string]*discovery.VirtualService{},
	}
	for _, dr := range snap.DestinationRules {
		host := discovery.ResolveHost(dr.Spec.GetHost(), dr.Namespace)
		if _, taken := r.destinationRules[host]; !taken {
			r.destinationRules[host] = dr
		}
	}
	for _, vs := range snap.VirtualServices {
		if !boundToMesh(vs.Spec) {
			continue
		}
		for _, h := range vs.Spec.GetHosts() {
			host := discovery.ResolveHost(h, vs.Namespace)
			if suffix, ok := strings.CutPrefix(host, "*"); ok {
				r.wildcards = append(r.wildcards, wildcardRule{suffix: suffix, vs: vs})
			} else if _, taken := r.virtualServices[host]; !taken {
				r.virtualServices[host] = vs
			}
		}
	}
	// Stable: among equally specific wildcards the first by namespace/name wins.
	sort.SliceStable(r.wildcards, func(i, j int) bool { return len(r.wildcards[i].suffix) > len(r.wildcards[j].suffix) })
	return r
}

// virtualServiceFor is the mesh-bound VirtualService that routes a service
// host: one naming the host exactly, else the most specific wildcard host
// ("*.sock-shop.svc.cluster.local" before "*"), as Istio chooses.
func (r *rules) virtualServiceFor(host string) *discovery.VirtualService {
	if vs := r.virtualServices[host]; vs != nil {
		return vs
	}
	for _, w := range r.wildcards {
		if strings.HasSuffix(host, w.suffix) {
			return w.vs
		}
	}
	return nil
}

// subsets of the DestinationRule for a host, in the rule's order.
func (r *rules) subsets(host string) []*networking.Subset {
	if dr := r.destinationRules[host]; dr != nil {
		return dr.Spec.GetSubsets()
	}
	return nil
}

// boundToMesh: a VirtualService with no gateways applies to sidecars, and so
// does one that lists the reserved gateway name "mesh".
func boundToMesh(vs *networking.VirtualService) bool {
	if len(vs.GetGateways()) == 0 {
		return true
	}
	for _, g := range vs.GetGateways() {
		if g == "mesh" {
			return true
		}
	}
	return false
}
