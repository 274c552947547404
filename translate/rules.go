package translate

import (
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// rules indexes the Istio objects of a snapshot by the FQDN they apply to.
// When several objects name one host, the first by namespace/name wins, so
// the choice is deterministic (Istio merges some cases; we do not yet).
type rules struct {
	destinationRules map[string]*discovery.DestinationRule
	virtualServices  map[string]*discovery.VirtualService // mesh-bound only
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
			if _, taken := r.virtualServices[host]; !taken {
				r.virtualServices[host] = vs
			}
		}
	}
	return r
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
