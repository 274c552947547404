package translate

import (
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
)

// ROUTE_CONFIGURATION, VIRTUAL_HOST and HTTP_ROUTE patches, on route
// tables served over RDS and on those inline in inbound listeners.

// inRouteStage reports whether a patch belongs to a pass over route tables,
// in Istio's order: route table MERGEs, virtual host REMOVEs and MERGEs,
// route MERGEs, then virtual host ADDs (added hosts get no route patches).
func inRouteStage(stage int, p *envoyFilterPatch) bool {
	add := p.op == networking.EnvoyFilter_Patch_ADD
	switch stage {
	case 0:
		return p.applyTo == networking.EnvoyFilter_ROUTE_CONFIGURATION
	case 1:
		return p.applyTo == networking.EnvoyFilter_VIRTUAL_HOST && !add
	case 2:
		return p.applyTo == networking.EnvoyFilter_HTTP_ROUTE
	case 3:
		return p.applyTo == networking.EnvoyFilter_VIRTUAL_HOST && add
	}
	return false
}

const routeStages = 4

// routePatchesInOrder are the route patches of a context, stage by stage.
func (r *patchRun) routePatchesInOrder(ctx networking.EnvoyFilter_PatchContext) []*envoyFilterPatch {
	var out []*envoyFilterPatch
	for stage := 0; stage < routeStages; stage++ {
		for _, p := range r.patches {
			if inRouteStage(stage, p) && contextMatches(p, ctx) {
				out = append(out, p)
			}
		}
	}
	return out
}

func (r *patchRun) patchRoutes(rcs []*route.RouteConfiguration) []*route.RouteConfiguration {
	ctx := r.env.routeContext()
	patches := r.routePatchesInOrder(ctx)
	out := make([]*route.RouteConfiguration, len(rcs))
	for i, rc := range rcs {
		for _, p := range patches {
			rc = try(r, p, rc, "route table "+rc.Name, func(rc *route.RouteConfiguration) (bool, error) {
				return patchRouteConfig(rc, p, ctx), nil
			}, func(rc *route.RouteConfiguration) error { return r.checkRouteConfig(rc, false) })
		}
		out[i] = rc
	}
	return out
}

// patchRouteConfig applies one route patch to a route table and reports
// whether it matched.
func patchRouteConfig(rc *route.RouteConfiguration, p *envoyFilterPatch, ctx networking.EnvoyFilter_PatchContext) bool {
	if !routeConfigMatches(p, ctx, rc) {
		return false
	}
	switch p.applyTo {
	case networking.EnvoyFilter_ROUTE_CONFIGURATION:
		mergeInto(rc, p.value)
		return true
	case networking.EnvoyFilter_VIRTUAL_HOST:
		return patchVirtualHosts(rc, p)
	case networking.EnvoyFilter_HTTP_ROUTE:
		matched := false
		for _, vh := range rc.VirtualHosts {
			if !virtualHostMatches(p, vh) {
				continue
			}
			for _, rt := range vh.Routes {
				if routeMatches(p, rt) {
					mergeInto(rt, p.value)
					matched = true
				}
			}
		}
		return matched
	}
	return false
}

// patchVirtualHosts: ADD appends a virtual host to the table; REMOVE and
// MERGE act on every virtual host the patch matches.
func patchVirtualHosts(rc *route.RouteConfiguration, p *envoyFilterPatch) bool {
	if p.op == networking.EnvoyFilter_Patch_ADD {
		rc.VirtualHosts = append(rc.VirtualHosts, proto.Clone(p.value).(*route.VirtualHost))
		return true
	}
	matched := false
	kept := rc.VirtualHosts[:0]
	for _, vh := range rc.VirtualHosts {
		if !virtualHostMatches(p, vh) {
			kept = append(kept, vh)
			continue
		}
		matched = true
		if p.op == networking.EnvoyFilter_Patch_MERGE {
			mergeInto(vh, p.value)
			kept = append(kept, vh)
		}
	}
	rc.VirtualHosts = kept
	return matched
}
