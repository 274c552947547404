package discovery

// Validation of EnvoyFilters: the structure of each patch (what it applies
// to, the operation, the match). The patch values are Envoy config, which
// translate decodes and checks (discovery holds no Envoy types). Pilotlight
// implements the subset of EnvoyFilter that tutorials use; a patch outside
// it is reported, never ignored.

import (
	"fmt"

	networking "istio.io/api/networking/v1alpha3"
)

// envoyFilterOperations are the operations pilotlight applies, per applyTo.
// INSERT_BEFORE/AFTER/FIRST on anything but filters are ADD, as in Istio.
var envoyFilterOperations = map[networking.EnvoyFilter_ApplyTo][]networking.EnvoyFilter_Patch_Operation{
	networking.EnvoyFilter_HTTP_FILTER:         filterOperations,
	networking.EnvoyFilter_NETWORK_FILTER:      filterOperations,
	networking.EnvoyFilter_CLUSTER:             {networking.EnvoyFilter_Patch_ADD, networking.EnvoyFilter_Patch_MERGE, networking.EnvoyFilter_Patch_REMOVE},
	networking.EnvoyFilter_VIRTUAL_HOST:        {networking.EnvoyFilter_Patch_ADD, networking.EnvoyFilter_Patch_MERGE, networking.EnvoyFilter_Patch_REMOVE},
	networking.EnvoyFilter_HTTP_ROUTE:          {networking.EnvoyFilter_Patch_MERGE},
	networking.EnvoyFilter_ROUTE_CONFIGURATION: {networking.EnvoyFilter_Patch_MERGE},
	networking.EnvoyFilter_LISTENER:            {networking.EnvoyFilter_Patch_MERGE},
}

var filterOperations = []networking.EnvoyFilter_Patch_Operation{
	networking.EnvoyFilter_Patch_INSERT_BEFORE, networking.EnvoyFilter_Patch_INSERT_AFTER,
	networking.EnvoyFilter_Patch_INSERT_FIRST, networking.EnvoyFilter_Patch_ADD,
	networking.EnvoyFilter_Patch_REMOVE, networking.EnvoyFilter_Patch_MERGE,
	networking.EnvoyFilter_Patch_REPLACE,
}

// EnvoyFilterOperation is the operation a patch performs: Istio turns an
// INSERT_* on what is not a filter into an ADD.
func EnvoyFilterOperation(cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) networking.EnvoyFilter_Patch_Operation {
	op := cp.GetPatch().GetOperation()
	switch op {
	case networking.EnvoyFilter_Patch_INSERT_BEFORE, networking.EnvoyFilter_Patch_INSERT_AFTER, networking.EnvoyFilter_Patch_INSERT_FIRST:
		if cp.ApplyTo != networking.EnvoyFilter_HTTP_FILTER && cp.ApplyTo != networking.EnvoyFilter_NETWORK_FILTER {
			return networking.EnvoyFilter_Patch_ADD
		}
	}
	return op
}

// ValidateEnvoyFilter returns the problems of an EnvoyFilter; none means
// translate may apply it.
func ValidateEnvoyFilter(f *EnvoyFilter) []Problem {
	p := newProblemList("EnvoyFilter", f.Meta)
	spec := f.Spec
	if spec == nil {
		p.add("spec", "spec is required")
		return p.list
	}
	if len(spec.TargetRefs) > 0 {
		p.add("spec.targetRefs", "targetRefs are not supported; select proxies with workloadSelector")
	}
	if len(spec.ConfigPatches) == 0 {
		p.add("spec.configPatches", "at least one patch is required")
	}
	for i, cp := range spec.ConfigPatches {
		checkConfigPatch(p, fieldIndex("spec.configPatches", i), cp)
	}
	return p.list
}

func checkConfigPatch(p *problemList, path string, cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) {
	ops, ok := envoyFilterOperations[cp.ApplyTo]
	if !ok {
		p.add(path+".applyTo", "applyTo %s is not supported (pilotlight applies HTTP_FILTER, NETWORK_FILTER, CLUSTER, VIRTUAL_HOST, HTTP_ROUTE, ROUTE_CONFIGURATION and LISTENER)", cp.ApplyTo)
		return
	}
	op := EnvoyFilterOperation(cp)
	if cp.Patch == nil {
		p.add(path+".patch", "patch is required")
		return
	}
	if !containsOp(ops, op) {
		p.add(path+".patch.operation", "operation %s is not supported for %s (supported: %v)", cp.Patch.Operation, cp.ApplyTo, ops)
	}
	if op != networking.EnvoyFilter_Patch_REMOVE && cp.Patch.Value == nil {
		p.add(path+".patch.value", "%s needs a value", cp.Patch.Operation)
	}
	if cp.Patch.FilterClass != networking.EnvoyFilter_Patch_UNSPECIFIED {
		p.add(path+".patch.filterClass", "filterClass is not supported")
	}
	checkPatchMatch(p, path+".match", cp)
}

func containsOp(ops []networking.EnvoyFilter_Patch_Operation, op networking.EnvoyFilter_Patch_Operation) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// checkPatchMatch: the match must be of the kind of object patched (as
// Istio's validation requires), and use only fields pilotlight matches on.
func checkPatchMatch(p *problemList, path string, cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) {
	m := cp.Match
	if m == nil {
		return // everything, in every context
	}
	if m.Context == networking.EnvoyFilter_WAYPOINT {
		p.add(path+".context", "context WAYPOINT is not supported")
	}
	if m.Proxy != nil {
		p.add(path+".proxy", "matching on the proxy (version, metadata) is not supported")
	}
	switch cp.ApplyTo {
	case networking.EnvoyFilter_LISTENER, networking.EnvoyFilter_NETWORK_FILTER, networking.EnvoyFilter_HTTP_FILTER:
		if m.GetRouteConfiguration() != nil || m.GetCluster() != nil || m.GetWaypoint() != nil {
			p.add(path, "%s patches match a listener (match.listener)", cp.ApplyTo)
		}
		checkListenerMatch(p, path+".listener", m.GetListener(), cp.ApplyTo)
	case networking.EnvoyFilter_VIRTUAL_HOST, networking.EnvoyFilter_HTTP_ROUTE, networking.EnvoyFilter_ROUTE_CONFIGURATION:
		if m.GetListener() != nil || m.GetCluster() != nil || m.GetWaypoint() != nil {
			p.add(path, "%s patches match a route configuration (match.routeConfiguration)", cp.ApplyTo)
		}
	case networking.EnvoyFilter_CLUSTER:
		if m.GetListener() != nil || m.GetRouteConfiguration() != nil || m.GetWaypoint() != nil {
			p.add(path, "CLUSTER patches match a cluster (match.cluster)")
		}
	}
}

func checkListenerMatch(p *problemList, path string, l *networking.EnvoyFilter_ListenerMatch, applyTo networking.EnvoyFilter_ApplyTo) {
	if l == nil {
		return
	}
	if l.PortName != "" {
		p.add(path+".portName", "matching a listener by port name is not supported; use portNumber")
	}
	if l.ListenerFilter != "" {
		p.add(path+".listenerFilter", "listener filters cannot be matched (LISTENER_FILTER patches are not supported)")
	}
	sub := l.GetFilterChain().GetFilter().GetSubFilter()
	if sub != nil && applyTo != networking.EnvoyFilter_HTTP_FILTER {
		p.add(path+".filterChain.filter.subFilter", "subFilter names an HTTP filter; only HTTP_FILTER patches match one")
	}
	if sub != nil && sub.Name == "" {
		p.add(path+".filterChain.filter.subFilter.name", "name is required")
	}
}

// EnvoyFilterPatchField is the field path of a patch, for problems found
// after discovery (by translate).
func EnvoyFilterPatchField(i int) string { return fmt.Sprintf("spec.configPatches[%d]", i) }
