package translate

import (
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	networking "istio.io/api/networking/v1alpha3"
)

// LISTENER, NETWORK_FILTER and HTTP_FILTER patches, and route patches of
// the route tables inline in a sidecar's inbound listeners.

// listenerStages are the passes over a listener, in Istio's order: the
// listener, network filter operations, network filter MERGEs, HTTP filter
// operations, HTTP filter MERGEs.
var listenerStages = []struct {
	applyTo networking.EnvoyFilter_ApplyTo
	merge   bool
}{
	{networking.EnvoyFilter_LISTENER, true},
	{networking.EnvoyFilter_NETWORK_FILTER, false},
	{networking.EnvoyFilter_NETWORK_FILTER, true},
	{networking.EnvoyFilter_HTTP_FILTER, false},
	{networking.EnvoyFilter_HTTP_FILTER, true},
}

func (r *patchRun) patchListeners(listeners []*listener.Listener) []*listener.Listener {
	out := make([]*listener.Listener, len(listeners))
	for i, l := range listeners {
		ctx := r.env.listenerContext(l)
		for _, stage := range listenerStages {
			for _, p := range r.patches {
				if p.applyTo != stage.applyTo || (p.op == networking.EnvoyFilter_Patch_MERGE) != stage.merge ||
					!contextMatches(p, ctx) || !listenerMatches(p, l) {
					continue
				}
				l = try(r, p, l, "listener "+l.Name, func(l *listener.Listener) (bool, error) { return applyListenerPatch(l, p) }, r.checkListener)
			}
		}
		// Route patches reach the inline route tables of inbound listeners.
		if ctx == networking.EnvoyFilter_SIDECAR_INBOUND {
			for _, p := range r.routePatchesInOrder(ctx) {
				l = try(r, p, l, "listener "+l.Name, func(l *listener.Listener) (bool, error) {
					return eachHCM(l, nil, func(m *hcm.HttpConnectionManager) bool {
						rc := m.GetRouteConfig()
						return rc != nil && patchRouteConfig(rc, p, ctx)
					}), nil
				}, r.checkListener)
			}
		}
		out[i] = l
	}
	return out
}

// applyListenerPatch applies one patch to a listener: whether it matched,
// and why its result cannot be (a MERGE of another type).
func applyListenerPatch(l *listener.Listener, p *envoyFilterPatch) (bool, error) {
	var err error
	switch p.applyTo {
	case networking.EnvoyFilter_LISTENER:
		mergeInto(l, p.value)
		return true, nil
	case networking.EnvoyFilter_NETWORK_FILTER:
		matched := eachChain(l, p, func(fc *listener.FilterChain) bool {
			if p.op == networking.EnvoyFilter_Patch_MERGE {
				return mergeFilters(fc.Filters, p.value.(*listener.Filter), func(f *listener.Filter) bool { return networkFilterMatches(p, f) }, &err)
			}
			var changed bool
			fc.Filters, changed = filterListOp(fc.Filters, p, hasNetworkFilterMatch(p), func(f *listener.Filter) bool { return networkFilterMatches(p, f) })
			return changed
		})
		return matched, err
	case networking.EnvoyFilter_HTTP_FILTER:
		matched := eachHCM(l, p, func(m *hcm.HttpConnectionManager) bool {
			if p.op == networking.EnvoyFilter_Patch_MERGE {
				return mergeFilters(m.HttpFilters, p.value.(*hcm.HttpFilter), func(f *hcm.HttpFilter) bool { return httpFilterMatches(p, f) }, &err)
			}
			var changed bool
			m.HttpFilters, changed = filterListOp(m.HttpFilters, p, hasHTTPFilterMatch(p), func(f *hcm.HttpFilter) bool { return httpFilterMatches(p, f) })
			return changed
		})
		return matched, err
	}
	return false, nil
}

// eachChain calls fn on the filter chains (and default chain) the patch
// matches, and reports whether any changed.
func eachChain(l *listener.Listener, p *envoyFilterPatch, fn func(*listener.FilterChain) bool) bool {
	changed := false
	chains := l.FilterChains
	if l.DefaultFilterChain != nil {
		chains = append(chains[:len(chains):len(chains)], l.DefaultFilterChain)
	}
	for _, fc := range chains {
		if p == nil || filterChainMatches(p, fc) {
			changed = fn(fc) || changed
		}
	}
	return changed
}

// eachHCM calls fn on the HTTP connection managers of the chains and
// network filters the patch matches (all of them for p nil), decoded; a
// manager fn changed is encoded back into its filter.
func eachHCM(l *listener.Listener, p *envoyFilterPatch, fn func(*hcm.HttpConnectionManager) bool) bool {
	return eachChain(l, p, func(fc *listener.FilterChain) bool {
		changed := false
		for _, f := range fc.Filters {
			if networkFilterName(f.Name) != wellknown.HTTPConnectionManager || (p != nil && !networkFilterMatches(p, f)) {
				continue
			}
			m := &hcm.HttpConnectionManager{}
			if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(m) != nil {
				continue
			}
			if fn(m) {
				f.ConfigType = &listener.Filter_TypedConfig{TypedConfig: mustAny(m)}
				changed = true
			}
		}
		return changed
	})
}

// filterListOp applies ADD, INSERT_FIRST/BEFORE/AFTER, REPLACE or REMOVE
// to a list of filters, as Istio does: INSERT_BEFORE without a filter to
// match inserts first, INSERT_AFTER without one appends, REPLACE and
// REMOVE need one; BEFORE, AFTER and REPLACE act at the first match,
// REMOVE at every match.
func filterListOp[F proto.Message](filters []F, p *envoyFilterPatch, hasMatch bool, matches func(F) bool) ([]F, bool) {
	value := func() F { return proto.Clone(p.value).(F) }
	first := -1
	for i, f := range filters {
		if matches(f) {
			first = i
			break
		}
	}
	switch p.op {
	case networking.EnvoyFilter_Patch_ADD:
		return append(filters, value()), true
	case networking.EnvoyFilter_Patch_INSERT_FIRST:
		return append([]F{value()}, filters...), true
	case networking.EnvoyFilter_Patch_INSERT_BEFORE, networking.EnvoyFilter_Patch_INSERT_AFTER:
		after := p.op == networking.EnvoyFilter_Patch_INSERT_AFTER
		switch {
		case !hasMatch && after:
			return append(filters, value()), true
		case !hasMatch:
			return append([]F{value()}, filters...), true
		case first < 0:
			return filters, false
		}
		at := first
		if after {
			at++
		}
		out := append(append(append([]F{}, filters[:at]...), value()), filters[at:]...)
		return out, true
	case networking.EnvoyFilter_Patch_REPLACE:
		if !hasMatch || first < 0 {
			return filters, false
		}
		filters[first] = value()
		return filters, true
	case networking.EnvoyFilter_Patch_REMOVE:
		if !hasMatch || first < 0 {
			return filters, false
		}
		out := filters[:0]
		for _, f := range filters {
			if !matches(f) {
				out = append(out, f)
			}
		}
		return out, true
	}
	return filters, false
}

// namedFilter is a network or HTTP filter: a name and a typed_config.
type namedFilter interface {
	proto.Message
	GetName() string
	GetTypedConfig() *anypb.Any
}

// mergeFilters merges a MERGE patch into every filter it matches that has
// a typed_config (as Istio, which skips the others): the patch's name, if
// any, renames it, and its typed_config is merged into the filter's.
func mergeFilters[F namedFilter](filters []F, patch F, matches func(F) bool, err *error) bool {
	changed := false
	for _, f := range filters {
		if !matches(f) || f.GetTypedConfig() == nil {
			continue
		}
		changed = true
		config := f.GetTypedConfig()
		if patch.GetTypedConfig() != nil {
			merged, mergeErr := mergeTypedConfig(config, patch.GetTypedConfig())
			if mergeErr != nil {
				*err = mergeErr
				continue
			}
			config = merged
		}
		name := f.GetName()
		if patch.GetName() != "" {
			name = patch.GetName()
		}
		setFilter(f, name, config)
	}
	return changed
}

func setFilter(f proto.Message, name string, config *anypb.Any) {
	switch f := f.(type) {
	case *listener.Filter:
		f.Name, f.ConfigType = name, &listener.Filter_TypedConfig{TypedConfig: config}
	case *hcm.HttpFilter:
		f.Name, f.ConfigType = name, &hcm.HttpFilter_TypedConfig{TypedConfig: config}
	}
}
