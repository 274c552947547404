package discovery

// Validation of Istio objects, shared by every source (folder, Kubernetes).
//
// Istio rejects most of these mistakes in its admission webhook, before an
// object is stored. A folder has no webhook, and a cluster may hold objects
// written while no webhook was running, so a source checks them again here.
// An invalid object is skipped as a whole: serving half of a VirtualService
// would send traffic somewhere its author never intended.

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1"
)

// ResolveHost turns a host written in an Istio object of the given namespace
// into the FQDN it names, as a pod's DNS search path would:
//
//	catalogue                               -> catalogue.<namespace>.svc.cluster.local
//	catalogue.sock-shop                     -> catalogue.sock-shop.svc.cluster.local
//	catalogue.sock-shop.svc                 -> catalogue.sock-shop.svc.cluster.local
//	catalogue.sock-shop.svc.cluster.local   unchanged
//	*.sock-shop.svc.cluster.local, *        unchanged (wildcards)
//
// Istio itself only expands names without a dot. Pilotlight routes only to
// Kubernetes services, so it also reads "name.namespace" the way Kubernetes
// DNS does. A trailing dot marks a name as already complete.
func ResolveHost(host, namespace string) string {
	if strings.HasPrefix(host, "*") {
		return host
	}
	if complete, ok := strings.CutSuffix(host, "."); ok {
		return complete
	}
	suffix := ".svc." + DefaultDomainSuffix
	switch {
	case !strings.Contains(host, "."):
		return host + "." + namespace + suffix
	case strings.Count(host, ".") == 1:
		return host + suffix
	case strings.HasSuffix(host, ".svc"):
		return host + "." + DefaultDomainSuffix
	}
	return host
}

// hostCovers reports whether a host pattern (an FQDN or a wildcard such as
// "*.sock-shop.svc.cluster.local") covers an FQDN.
func hostCovers(pattern, host string) bool {
	if pattern == "*" {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, rest)
	}
	return pattern == host
}

// Validate checks the Istio objects of a snapshot that is being built,
// removes the invalid ones and returns why. Call it before Seal.
//
// DestinationRules are checked first, so that a VirtualService may only use
// the subsets of rules that are themselves served. The returned Problems name
// Kind and Name; the source fills in Source, which only it knows.
func Validate(s *Snapshot) []Problem {
	var problems []Problem
	s.DestinationRules = keepValid(s.DestinationRules, ValidateDestinationRule, &problems)
	s.Gateways = keepValid(s.Gateways, ValidateGateway, &problems)
	v := NewValidator(s.Services, s.DestinationRules)
	s.VirtualServices = keepValid(s.VirtualServices, v.VirtualService, &problems)
	return problems
}

// keepValid returns the items that check finds no problem with, and appends
// the problems of the others.
func keepValid[T any](items []T, check func(T) []Problem, problems *[]Problem) []T {
	var valid []T
	for _, item := range items {
		if found := check(item); len(found) > 0 {
			*problems = append(*problems, found...)
			continue
		}
		valid = append(valid, item)
	}
	return valid
}

// problemList collects the problems of one object.
type problemList struct {
	kind, name string
	list       []Problem
}

// newProblemList names the kind itself rather than trusting Meta.Kind, which
// a source may leave empty.
func newProblemList(kind string, m Meta) *problemList {
	return &problemList{kind: kind, name: m.Key()}
}

func (p *problemList) add(field, format string, args ...any) {
	p.list = append(p.list, Problem{Kind: p.kind, Name: p.name, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// fieldIndex builds a field path to a list element, e.g. fieldIndex("spec.http", 0).
func fieldIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// fieldKey builds a field path to a map entry, e.g. spec.http[0].match[0].headers.x-user,
// written like the paths that decoding errors report.
func fieldKey(path, k string) string { return path + "." + k }

// Validator checks VirtualServices against the services and DestinationRules
// of the mesh: a route may only name subsets that exist and ports that the
// service has.
type Validator struct {
	services map[string]*Service // by Hostname
	rules    []*DestinationRule
}

// NewValidator builds a Validator. The rules should already be valid.
func NewValidator(services []*Service, rules []*DestinationRule) *Validator {
	v := &Validator{services: make(map[string]*Service, len(services)), rules: rules}
	for _, svc := range services {
		v.services[svc.Hostname] = svc
	}
	return v
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
	if len(spec.Hosts) == 0 {
		p.add("spec.hosts", "at least one host is required")
	}
	for i, h := range spec.Hosts {
		if h == "" {
			p.add(fieldIndex("spec.hosts", i), "host must not be empty")
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
}

// checkMatch checks that every regex of an HTTP match compiles. Envoy uses
// Google's RE2, and so does Go's regexp package, so what compiles here is
// what Envoy will accept.
func checkMatch(p *problemList, path string, m *networking.HTTPMatchRequest) {
	checkRegex(p, path+".uri", m.Uri)
	checkRegex(p, path+".scheme", m.Scheme)
	checkRegex(p, path+".method", m.Method)
	checkRegex(p, path+".authority", m.Authority)
	checkRegexMap(p, path+".headers", m.Headers)
	checkRegexMap(p, path+".withoutHeaders", m.WithoutHeaders)
	checkRegexMap(p, path+".queryParams", m.QueryParams)
}

func checkRegexMap(p *problemList, path string, matches map[string]*networking.StringMatch) {
	names := make([]string, 0, len(matches))
	for name := range matches {
		names = append(names, name)
	}
	sort.Strings(names) // map order is random; problems should not be
	for _, name := range names {
		checkRegex(p, fieldKey(path, name), matches[name])
	}
}

func checkRegex(p *problemList, path string, m *networking.StringMatch) {
	re, ok := m.GetMatchType().(*networking.StringMatch_Regex)
	if !ok {
		return
	}
	if _, err := regexp.Compile(re.Regex); err != nil {
		p.add(path+".regex", "not a valid RE2 regex: %v", err)
	}
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
	host := ResolveHost(d.Host, namespace)
	if d.Subset != "" && !v.hasSubset(host, d.Subset) {
		p.add(path+".subset", "subset %q is not defined by any DestinationRule for host %s", d.Subset, host)
	}
	v.checkPort(p, path+".port", host, d.Port)
}

// hasSubset reports whether a DestinationRule for host defines the subset.
// A rule's host is resolved against the rule's own namespace.
func (v *Validator) hasSubset(host, subset string) bool {
	for _, dr := range v.rules {
		if !hostCovers(ResolveHost(dr.Spec.GetHost(), dr.Namespace), host) {
			continue
		}
		for _, s := range dr.Spec.Subsets {
			if s.Name == subset {
				return true
			}
		}
	}
	return false
}

// checkPort checks the destination port against the service, when the host is
// a known service: with several ports, the route must say which one.
func (v *Validator) checkPort(p *problemList, path, host string, port *networking.PortSelector) {
	svc := v.services[host]
	if svc == nil {
		return
	}
	number := port.GetNumber()
	if number == 0 {
		if len(svc.Ports) > 1 {
			p.add(path+".number", "service %s has %d ports, the destination must pick one", svc.Key(), len(svc.Ports))
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

// ValidateDestinationRule returns the problems of dr; none means it can be
// served.
func ValidateDestinationRule(dr *DestinationRule) []Problem {
	p := newProblemList("DestinationRule", dr.Meta)
	spec := dr.Spec
	if spec == nil {
		p.add("spec", "spec is required")
		return p.list
	}
	if spec.Host == "" {
		p.add("spec.host", "host is required")
	}
	firstIndex := map[string]int{} // subset name -> index where it first appears
	for i, s := range spec.Subsets {
		path := fieldIndex("spec.subsets", i)
		if s.Name == "" {
			p.add(path+".name", "subset name is required")
		} else if first, dup := firstIndex[s.Name]; dup {
			p.add(path+".name", "subset %q is already defined by spec.subsets[%d]", s.Name, first)
		} else {
			firstIndex[s.Name] = i
		}
		// A subset without labels would select every endpoint of the host,
		// which is never what a subset is written for.
		if len(s.Labels) == 0 {
			p.add(path+".labels", "subset labels are required")
		}
	}
	return p.list
}

// ValidateGateway returns the problems of gw; none means it can be served.
func ValidateGateway(gw *Gateway) []Problem {
	p := newProblemList("Gateway", gw.Meta)
	if len(gw.Spec.GetServers()) == 0 {
		p.add("spec.servers", "at least one server is required")
		return p.list
	}
	for i, s := range gw.Spec.Servers {
		path := fieldIndex("spec.servers", i)
		if s.GetPort().GetNumber() == 0 {
			p.add(path+".port.number", "port number is required")
		}
		if len(s.Hosts) == 0 {
			p.add(path+".hosts", "at least one host is required")
		}
	}
	return p.list
}
