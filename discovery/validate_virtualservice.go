package discovery

// Validation of VirtualServices: hosts, http routes, and the destinations
// of http, tcp and tls routes.

import (
	"maps"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1"
)

// Validator checks VirtualServices against the services and DestinationRules
// of the mesh: a route may only name subsets that exist and ports that the
// service has.
type Validator struct {
	services map[string]*Service // by Hostname
	// subsets are the subset names of the DestinationRules by the FQDN
	// their host resolves to; wildcardSubsets, by wildcard host. Resolved
	// once: a mesh of a thousand VirtualServices and rules would otherwise
	// resolve every rule's host for every destination.
	subsets, wildcardSubsets map[string][]string
	// routePorts are, while one VirtualService bound to the mesh is
	// checked, the ports of the services its hosts name: the ports its
	// routes are built for.
	routePorts []uint32
}

// NewValidator builds a Validator. The rules should already be valid.
func NewValidator(services []*Service, rules []*DestinationRule) *Validator {
	v := &Validator{services: make(map[string]*Service, len(services)),
		subsets: map[string][]string{}, wildcardSubsets: map[string][]string{}}
	for _, svc := range services {
		v.services[svc.Hostname] = svc
	}
	for _, dr := range rules {
		host := ResolveHost(dr.Spec.GetHost(), dr.Namespace)
		index := v.subsets
		if strings.HasPrefix(host, "*") {
			index = v.wildcardSubsets
		}
		for _, s := range dr.Spec.GetSubsets() {
			index[host] = append(index[host], s.GetName())
		}
	}
	for _, index := range []map[string][]string{v.subsets, v.wildcardSubsets} {
		for _, names := range index {
			slices.Sort(names) // whatever the order of the rules (sameAs)
		}
	}
	return v
}

// sameAs: v checks against the same services and subsets as o, so it
// finds what o finds in any VirtualService: they read nothing else.
func (v *Validator) sameAs(o *Validator) bool {
	if o == nil || len(v.services) != len(o.services) {
		return false
	}
	for host, svc := range v.services {
		if !sameForRoutes(svc, o.services[host]) {
			return false
		}
	}
	return maps.EqualFunc(v.subsets, o.subsets, slices.Equal[[]string]) &&
		maps.EqualFunc(v.wildcardSubsets, o.wildcardSubsets, slices.Equal[[]string])
}

// sameForRoutes: the two are the same service as far as a VirtualService
// check reads one (its name and ports; a check that comes to read more
// must compare it here too). A folder re-read or an informer update
// makes a new object of a service whose pods changed in the same file.
func sameForRoutes(a, b *Service) bool {
	return a == b || (b != nil && a.Namespace == b.Namespace && a.Name == b.Name && a.Hostname == b.Hostname && slices.Equal(a.Ports, b.Ports))
}

// ValidateVirtualService checks one VirtualService; see Validator.
func ValidateVirtualService(vs *VirtualService, services []*Service, rules []*DestinationRule) []Problem {
	return NewValidator(services, rules).VirtualService(vs)
}

// VirtualService returns the problems of vs; none means it can be served.
func (v *Validator) VirtualService(vs *VirtualService) []Problem {
	p := newProblemList("VirtualService", vs.Meta)
	spec := vs.Spec
	if spec == nil {
		p.add("spec", "spec is required")
		return p.list
	}
	v = v.forHosts(vs)
	if len(spec.Hosts) == 0 {
		p.add("spec.hosts", "at least one host is required")
	}
	for i, h := range spec.Hosts {
		if h == "" {
			p.add(fieldIndex("spec.hosts", i), "host must not be empty")
		} else {
			checkHost(p, fieldIndex("spec.hosts", i), h)
		}
		// As in Istio: "*" would capture every service of the mesh.
		if h == "*" && appliesToMesh(spec.Gateways) {
			p.add(fieldIndex("spec.hosts", i), `wildcard host "*" is not allowed for a VirtualService bound to the mesh`)
		}
	}
	for i, r := range spec.Http {
		v.httpRoute(p, vs.Namespace, fieldIndex("spec.http", i), r)
	}
	for i, r := range spec.Tcp {
		checkDestinations(v, p, vs.Namespace, fieldIndex("spec.tcp", i)+".route", r.Route)
	}
	for i, r := range spec.Tls {
		checkDestinations(v, p, vs.Namespace, fieldIndex("spec.tls", i)+".route", r.Route)
	}
	checkL4Routes(p, vs)
	checkExportTo(p, spec.ExportTo)
	checkDurations(p, "spec", spec)
	checkUnsupported(p, "VirtualService", spec)
	return p.list
}

func (v *Validator) httpRoute(p *problemList, namespace, path string, r *networking.HTTPRoute) {
	// An HTTP route must say what to do with a request, and only one thing.
	actions := 0
	for _, set := range []bool{len(r.Route) > 0, r.Redirect != nil, r.DirectResponse != nil} {
		if set {
			actions++
		}
	}
	switch {
	case actions == 0:
		p.add(path, "needs a route, redirect or directResponse")
	case actions > 1:
		p.add(path, "only one of route, redirect and directResponse may be set")
	}
	for i, m := range r.Match {
		checkMatch(p, fieldIndex(path+".match", i), m)
	}
	checkDestinations(v, p, namespace, path+".route", r.Route)
	v.checkHTTPFeatures(p, namespace, path, r)
}

// routeDestination is what HTTP routes (HTTPRouteDestination) and TCP/TLS
// routes (RouteDestination) have in common.
type routeDestination interface {
	GetDestination() *networking.Destination
	GetWeight() int32
}

func checkDestinations[D routeDestination](v *Validator, p *problemList, namespace, path string, route []D) {
	checkWeights(p, path, route)
	for i, d := range route {
		v.destination(p, namespace, fieldIndex(path, i)+".destination", d.GetDestination())
	}
}

// checkWeights applies Istio's rule: when traffic is split (more than one
// destination, or any weight written) the weights must add up to 100. A
// single destination without a weight simply gets all the traffic.
func checkWeights[D routeDestination](p *problemList, path string, route []D) {
	total, written := 0, false
	for i, d := range route {
		w := d.GetWeight()
		if w < 0 {
			p.add(fieldIndex(path, i)+".weight", "weight %d is negative", w)
		}
		written = written || w != 0
		total += int(w)
	}
	if (len(route) > 1 || written) && total != 100 {
		p.add(path, "weights add up to %d, they must add up to 100", total)
	}
}

func (v *Validator) destination(p *problemList, namespace, path string, d *networking.Destination) {
	if d.GetHost() == "" {
		p.add(path+".host", "host is required")
		return
	}
	checkHost(p, path+".host", d.Host)
	host := ResolveHost(d.Host, namespace)
	if d.Subset != "" && !v.hasSubset(host, d.Subset) {
		p.add(path+".subset", "subset %q is not defined by any DestinationRule for host %s", d.Subset, host)
	}
	v.checkPort(p, path+".port", host, d.Port)
}

// hasSubset reports whether a DestinationRule for host defines the subset.
// A rule's host is resolved against the rule's own namespace.
func (v *Validator) hasSubset(host, subset string) bool {
	if slices.Contains(v.subsets[host], subset) {
		return true
	}
	for pattern, subsets := range v.wildcardSubsets {
		if hostCovers(pattern, host) && slices.Contains(subsets, subset) {
			return true
		}
	}
	return false
}

// forHosts is v for one VirtualService: routePorts are the ports of the
// services that its hosts name, when it is bound to the mesh (a gateway's
// routes are for its servers' ports).
func (v *Validator) forHosts(vs *VirtualService) *Validator {
	c := *v
	c.routePorts = nil
	if !appliesToMesh(vs.Spec.GetGateways()) {
		return &c
	}
	for _, h := range vs.Spec.GetHosts() {
		if svc := v.services[ResolveHost(h, vs.Namespace)]; svc != nil {
			for _, sp := range svc.Ports {
				if !slices.Contains(c.routePorts, sp.Port) {
					c.routePorts = append(c.routePorts, sp.Port)
				}
			}
		}
	}
	return &c
}

// checkPort checks the destination port against the service, when the host
// is a known service. Without a port, a service with several ports gets the
// traffic on the port it came to, as in Istio: that port must be one of
// the service's, or those requests would find no cluster (a warning: the
// rule is served).
func (v *Validator) checkPort(p *problemList, path, host string, port *networking.PortSelector) {
	svc := v.services[host]
	if svc == nil {
		return
	}
	number := port.GetNumber()
	if number == 0 {
		if len(svc.Ports) > 1 {
			for _, rp := range v.routePorts {
				if !svc.HasPort(rp) {
					p.warn(path, "no port given, so traffic to port %d goes to port %d of %s, which it does not have (those requests get 503): give destination.port", rp, rp, svc.Key())
				}
			}
		}
		return
	}
	for _, sp := range svc.Ports {
		if sp.Port == number {
			return
		}
	}
	p.add(path+".number", "service %s has no port %d", svc.Key(), number)
}

func (v *Validator) checkHTTPFeatures(p *problemList, namespace, path string, r *networking.HTTPRoute) {
	for i, m := range r.Match {
		checkMatchFields(p, fieldIndex(path+".match", i), m)
	}
	checkHeaderOps(p, path+".headers", r.Headers)
	for i, d := range r.Route {
		checkHeaderOps(p, fieldIndex(path+".route", i)+".headers", d.GetHeaders())
	}
	forwards := len(r.Route) > 0
	checkRedirect(p, path+".redirect", r.Redirect)
	checkRewrite(p, path+".rewrite", r.Rewrite, forwards)
	checkDirectResponse(p, path+".directResponse", r.DirectResponse)
	v.checkMirrors(p, namespace, path, r, forwards)
	checkFault(p, path+".fault", r.Fault)
	checkRetries(p, path+".retries", r.Retries)
	checkHTTPDuration(p, path+".timeout", r.Timeout, 0)
	checkCors(p, path+".corsPolicy", r.CorsPolicy)
}

// appliesToMesh: no gateways, or the reserved gateway "mesh" among them.
func appliesToMesh(gateways []string) bool {
	return len(gateways) == 0 || slices.Contains(gateways, "mesh")
}
