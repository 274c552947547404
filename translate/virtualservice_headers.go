package translate

import (
	"maps"
	"slices"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1"
)

// headerOps is Istio's headers (of a rule or of one destination) in
// Envoy's terms:
//
//	request.set / add   → request_headers_to_add (OVERWRITE_IF_EXISTS_OR_ADD / APPEND_IF_EXISTS_OR_ADD)
//	request.remove      → request_headers_to_remove
//	response.*          → response_headers_to_add / response_headers_to_remove
//
// Envoy refuses to modify Host and pseudo-headers in those lists, so a
// request "host" (or ":authority") set or add becomes a host rewrite
// instead (authority); validation rejects every other such header.
type headerOps struct {
	requestAdd     []*core.HeaderValueOption
	requestRemove  []string
	responseAdd    []*core.HeaderValueOption
	responseRemove []string
	authority      string
}

func headerOperations(h *networking.Headers) headerOps {
	req, resp := h.GetRequest(), h.GetResponse()
	var ops headerOps
	var setAuthority, addAuthority string
	ops.requestAdd, setAuthority = headerValues(req.GetSet(), core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	adds, addAuthority := headerValues(req.GetAdd(), core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	ops.requestAdd = append(ops.requestAdd, adds...)
	ops.authority = addAuthority
	if setAuthority != "" {
		ops.authority = setAuthority // set wins over add, as in Istio
	}
	respSets, _ := headerValues(resp.GetSet(), core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	respAdds, _ := headerValues(resp.GetAdd(), core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	ops.responseAdd = append(respSets, respAdds...)
	ops.requestRemove = append([]string(nil), req.GetRemove()...)
	ops.responseRemove = append([]string(nil), resp.GetRemove()...)
	return ops
}

// headerValues turns one set or add map into header options sorted by name,
// and returns the value of a host/:authority entry apart.
func headerValues(headers map[string]string, action core.HeaderValueOption_HeaderAppendAction) ([]*core.HeaderValueOption, string) {
	var out []*core.HeaderValueOption
	authority := ""
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		if isAuthorityHeader(name) {
			authority = headers[name]
			continue
		}
		out = append(out, &core.HeaderValueOption{
			Header:       &core.HeaderValue{Key: name, Value: headers[name]},
			AppendAction: action,
		})
	}
	return out, authority
}

func isAuthorityHeader(name string) bool {
	return strings.EqualFold(name, "host") || strings.EqualFold(name, ":authority")
}

// applyToRoute appends the operations to a route's own header lists.
func (ops headerOps) applyToRoute(r *route.Route) {
	r.RequestHeadersToAdd = append(r.RequestHeadersToAdd, ops.requestAdd...)
	r.RequestHeadersToRemove = append(r.RequestHeadersToRemove, ops.requestRemove...)
	r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, ops.responseAdd...)
	r.ResponseHeadersToRemove = append(r.ResponseHeadersToRemove, ops.responseRemove...)
}
