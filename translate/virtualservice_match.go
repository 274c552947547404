package translate

import (
	"maps"
	"slices"
	"sort"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// routeMatch turns one match block into an Envoy RouteMatch; every
// condition in it must hold (AND). A nil block matches every request.
//
//	uri            → path / prefix / safe_regex (case_sensitive: false with ignoreUriCase)
//	headers        → headers[] (string_match, or present_match when empty)
//	withoutHeaders → headers[] with invert_match
//	method         → headers[] on :method
//	authority      → headers[] on :authority
//	scheme         → headers[] on :scheme
//	queryParams    → query_parameters[]
func routeMatch(m *networking.HTTPMatchRequest) *route.RouteMatch {
	rm := &route.RouteMatch{}
	setPath(rm, m.GetUri(), m.GetIgnoreUriCase())
	if m.GetIgnoreUriCase() {
		rm.CaseSensitive = wrapperspb.Bool(false)
	}
	rm.Headers = append(headerMatchers(m.GetHeaders(), false), headerMatchers(m.GetWithoutHeaders(), true)...)
	sort.SliceStable(rm.Headers, func(i, j int) bool { return rm.Headers[i].Name < rm.Headers[j].Name })
	for _, pseudo := range []struct {
		name string
		sm   *networking.StringMatch
	}{{":method", m.GetMethod()}, {":authority", m.GetAuthority()}, {":scheme", m.GetScheme()}} {
		if pseudo.sm != nil {
			rm.Headers = append(rm.Headers, headerMatcher(pseudo.name, pseudo.sm))
		}
	}
	rm.QueryParameters = queryMatchers(m.GetQueryParams())
	return rm
}

// setPath: no uri matches every path (prefix "/"). Envoy's case_sensitive
// does not apply to safe_regex, so ignoreUriCase makes a regex
// case-insensitive with RE2's (?i) flag instead.
func setPath(rm *route.RouteMatch, uri *networking.StringMatch, ignoreCase bool) {
	switch u := uri.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		rm.PathSpecifier = &route.RouteMatch_Path{Path: u.Exact}
	case *networking.StringMatch_Prefix:
		rm.PathSpecifier = &route.RouteMatch_Prefix{Prefix: u.Prefix}
	case *networking.StringMatch_Regex:
		re := u.Regex
		if ignoreCase {
			re = "(?i)" + re
		}
		rm.PathSpecifier = &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: re}}
	default:
		rm.PathSpecifier = &route.RouteMatch_Prefix{Prefix: "/"}
	}
}

// headerMatchers builds the matchers of a headers or withoutHeaders map.
// For withoutHeaders the match is inverted; a value match then also treats
// a missing header as "" (treat_missing_header_as_empty), so a request
// without the header is "without" the value too. Envoy forbids that flag
// beside present_match, whose inversion already means "absent".
func headerMatchers(matches map[string]*networking.StringMatch, invert bool) []*route.HeaderMatcher {
	out := make([]*route.HeaderMatcher, 0, len(matches))
	for _, name := range slices.Sorted(maps.Keys(matches)) {
		hm := headerMatcher(name, matches[name])
		if invert {
			hm.InvertMatch = true
			hm.TreatMissingHeaderAsEmpty = !hm.GetPresentMatch()
		}
		out = append(out, hm)
	}
	return out
}

// headerMatcher: exact/prefix/regex → string_match; an empty match tests presence.
func headerMatcher(name string, sm *networking.StringMatch) *route.HeaderMatcher {
	hm := &route.HeaderMatcher{Name: name}
	if s := stringMatcher(sm); s != nil {
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_StringMatch{StringMatch: s}
	} else {
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_PresentMatch{PresentMatch: true}
	}
	return hm
}

// queryMatchers: queryParams → query_parameters, exact/prefix/regex →
// string_match, an empty match → present_match.
func queryMatchers(matches map[string]*networking.StringMatch) []*route.QueryParameterMatcher {
	var out []*route.QueryParameterMatcher
	for _, name := range slices.Sorted(maps.Keys(matches)) {
		qm := &route.QueryParameterMatcher{Name: name}
		if s := stringMatcher(matches[name]); s != nil {
			qm.QueryParameterMatchSpecifier = &route.QueryParameterMatcher_StringMatch{StringMatch: s}
		} else {
			qm.QueryParameterMatchSpecifier = &route.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		}
		out = append(out, qm)
	}
	return out
}

// stringMatcher: Istio's StringMatch as Envoy's; nil when no kind is set.
func stringMatcher(sm *networking.StringMatch) *matcher.StringMatcher {
	switch v := sm.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: v.Exact}}
	case *networking.StringMatch_Prefix:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: v.Prefix}}
	case *networking.StringMatch_Regex:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: v.Regex}}}
	}
	return nil
}
