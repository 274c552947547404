package translate

import (
	"fmt"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// What each Envoy route field is translated from (virtualservice*.go).

// route notes a route built from match block j of rule i of vs (j is -1
// for a rule without match).
func (p *provenance) route(vs *discovery.VirtualService, i, j int, rule *networking.HTTPRoute, r *route.Route) {
	if p == nil {
		return
	}
	spec := fmt.Sprintf("spec.http[%d]", i)
	vsField := func(field string) Origin { return objectOrigin("VirtualService", vs.Meta, field) }
	if rule.GetName() != "" {
		p.note(r, "name", vsField(spec+".name"))
	} else {
		p.note(r, "name", Origin{Kind: "VirtualService", Name: vs.Key(), Note: "name.namespace.index of the rule"})
	}
	p.routeMatch(r, spec, j, vsField)
	switch {
	case rule.GetRedirect() != nil:
		p.note(r, "redirect", vsField(spec+".redirect"))
	case rule.GetDirectResponse() != nil:
		p.note(r, "direct_response", vsField(spec+".directResponse"))
	default:
		p.routeAction(r, spec, rule, vsField)
	}
	if h := rule.GetHeaders(); h != nil {
		for _, part := range []struct {
			field string
			set   bool
		}{
			{"request_headers_to_add", len(h.GetRequest().GetSet())+len(h.GetRequest().GetAdd()) > 0},
			{"request_headers_to_remove", len(h.GetRequest().GetRemove()) > 0},
			{"response_headers_to_add", len(h.GetResponse().GetSet())+len(h.GetResponse().GetAdd()) > 0},
			{"response_headers_to_remove", len(h.GetResponse().GetRemove()) > 0},
		} {
			if part.set {
				p.note(r, part.field, vsField(spec+".headers"))
			}
		}
	}
	if rule.GetFault() != nil {
		p.note(r, "typed_per_filter_config[envoy.filters.http.fault]", vsField(spec+".fault"))
	}
	if rule.GetCorsPolicy() != nil {
		p.note(r, "typed_per_filter_config[envoy.filters.http.cors]", vsField(spec+".corsPolicy"))
	}
}

func (p *provenance) routeMatch(r *route.Route, spec string, j int, vsField func(string) Origin) {
	if j < 0 {
		p.note(r, "match", vsField(spec), defaultOrigin("no match: every request"))
		return
	}
	block := fmt.Sprintf("%s.match[%d]", spec, j)
	m := r.GetMatch()
	switch m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		if m.GetPrefix() == "/" {
			p.note(r, "match.prefix", vsField(block), defaultOrigin("no uri: every path"))
		} else {
			p.note(r, "match.prefix", vsField(block+".uri.prefix"))
		}
	case *route.RouteMatch_Path:
		p.note(r, "match.path", vsField(block+".uri.exact"))
	case *route.RouteMatch_SafeRegex:
		p.note(r, "match.safe_regex", vsField(block+".uri.regex"))
	case *route.RouteMatch_PathSeparatedPrefix:
		p.note(r, "match.path_separated_prefix", vsField(block+".uri.prefix"))
	}
	for k, h := range m.GetHeaders() {
		field := block + ".headers." + h.GetName()
		switch h.GetName() {
		case ":method":
			field = block + ".method"
		case ":authority":
			field = block + ".authority"
		case ":scheme":
			field = block + ".scheme"
		}
		if h.GetInvertMatch() {
			field = block + ".withoutHeaders." + h.GetName()
		}
		p.note(r, fmt.Sprintf("match.headers[%d]", k), vsField(field))
	}
	for k, q := range m.GetQueryParameters() {
		p.note(r, fmt.Sprintf("match.query_parameters[%d]", k), vsField(block+".queryParams."+q.GetName()))
	}
}

func (p *provenance) routeAction(r *route.Route, spec string, rule *networking.HTTPRoute, vsField func(string) Origin) {
	a := r.GetRoute()
	if rule.GetTimeout() != nil {
		p.note(r, "route.timeout", vsField(spec+".timeout"))
	} else {
		p.note(r, "route.timeout", defaultOrigin("Istio's default: no timeout"))
	}
	if rule.GetRetries() != nil {
		p.note(r, "route.retry_policy", vsField(spec+".retries"))
	} else {
		p.note(r, "route.retry_policy", defaultOrigin("Istio's default retry policy"))
	}
	if a.GetCluster() != "" {
		p.note(r, "route.cluster", vsField(spec+".route[0].destination"))
	}
	// A zero weight among several is left out: count the others.
	k := 0
	for d, dest := range rule.GetRoute() {
		if a.GetWeightedClusters() == nil || dest.GetWeight() == 0 {
			continue
		}
		path := fmt.Sprintf("route.weighted_clusters.clusters[%d]", k)
		p.note(r, path+".name", vsField(fmt.Sprintf("%s.route[%d].destination", spec, d)))
		p.note(r, path+".weight", vsField(fmt.Sprintf("%s.route[%d].weight", spec, d)))
		k++
	}
	if len(a.GetRequestMirrorPolicies()) > 0 {
		field := spec + ".mirrors"
		if rule.GetMirror() != nil {
			field = spec + ".mirror"
		}
		p.note(r, "route.request_mirror_policies", vsField(field))
	}
	if a.GetHostRewriteLiteral() != "" {
		field := spec + ".headers.request.set[:authority]"
		if rule.GetRewrite().GetAuthority() != "" {
			field = spec + ".rewrite.authority"
		}
		p.note(r, "route.host_rewrite_literal", vsField(field))
	}
	if a.GetPrefixRewrite() != "" || a.GetRegexRewrite() != nil {
		p.note(r, "route.prefix_rewrite", vsField(spec+".rewrite"))
	}
}

// defaultServiceRoute notes the route of a service port no VirtualService
// routes: everything to the whole service.
func (p *provenance) defaultServiceRoute(r *route.Route, svc *discovery.Service, port uint32) {
	if p == nil {
		return
	}
	p.note(r, "route.cluster", objectOrigin("Service", svc.Meta, servicePortField(svc, port)),
		defaultOrigin("no VirtualService for this host: the whole service"))
	p.note(r, "route.retry_policy", defaultOrigin("Istio's default retry policy"))
}

// servicePortField is spec.ports[k] of the service port numbered port.
func servicePortField(svc *discovery.Service, port uint32) string {
	for k, sp := range svc.Ports {
		if sp.Port == port {
			return fmt.Sprintf("spec.ports[%d]", k)
		}
	}
	return "spec.ports"
}
