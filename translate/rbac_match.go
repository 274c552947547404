package translate

import (
	"net/netip"
	"regexp"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/discovery"
)

// The matchers of AuthorizationPolicy values. Istio's values support four
// forms (pilot/pkg/security/authz/matcher):
//
//	"abc"    exact
//	"abc*"   prefix
//	"*abc"   suffix
//	"*"      presence: any non-empty value (regex .+)

// stringMatch is the StringMatcher of a value, with prefix (such as
// "spiffe://") put in front of what it matches.
func stringMatch(v, prefix string) *matcher.StringMatcher {
	switch {
	case v == "*":
		return regexMatch(".+")
	case strings.HasPrefix(v, "*"):
		if prefix == "" {
			return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Suffix{Suffix: v[1:]}}
		}
		return regexMatch(regexp.QuoteMeta(prefix) + ".*" + regexp.QuoteMeta(v[1:]))
	case strings.HasSuffix(v, "*"):
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: prefix + strings.TrimSuffix(v, "*")}}
	}
	return exactMatch(prefix + v)
}

func exactMatch(v string) *matcher.StringMatcher {
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: v}}
}

func regexMatch(re string) *matcher.StringMatcher {
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: re}}}
}

// globRegex turns a value with Istio's wildcards into a regex fragment:
// "*" alone is .*, a leading or trailing "*" is .*, the rest is literal.
func globRegex(v string) string {
	if v == "*" {
		return ".*"
	}
	out := regexp.QuoteMeta(strings.Trim(v, "*"))
	if strings.HasPrefix(v, "*") {
		out = ".*" + out
	}
	if strings.HasSuffix(v, "*") {
		out += ".*"
	}
	return out
}

// headerMatch matches a request header (":method", "x-user"): "*" is
// present_match, anything else a string_match.
func headerMatch(name, v string, ignoreCase bool) *route.HeaderMatcher {
	if v == "*" {
		return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_PresentMatch{PresentMatch: true}}
	}
	m := stringMatch(v, "")
	m.IgnoreCase = ignoreCase
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: m}}
}

// cidrRange is an IP block ("10.1.2.3", "10.0.0.0/8") as Envoy's CidrRange.
// Validation has checked it.
func cidrRange(v string) *core.CidrRange {
	prefix, err := discovery.ParseIPBlock(v)
	if err != nil {
		prefix = netip.Prefix{} // unreachable after validation
	}
	return &core.CidrRange{AddressPrefix: prefix.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(prefix.Bits()))}
}

// The JWT filter's output that request principals, audiences and claims
// are matched on: jwt_authn writes each verified token's payload into the
// dynamic metadata of envoy.filters.http.jwt_authn under "payload"
// (payload_in_metadata, jwt_authn.go).
const (
	jwtAuthnFilterName = "envoy.filters.http.jwt_authn"
	jwtPayloadKey      = "payload"
)

// jwtClaimMatch matches a string claim of the token's payload, such as
// payload.iss.
func jwtClaimMatch(claim string, m *matcher.StringMatcher) *matcher.MetadataMatcher {
	return &matcher.MetadataMatcher{
		Filter: jwtAuthnFilterName,
		Path:   metadataPath(jwtPayloadKey, claim),
		Value:  &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_StringMatch{StringMatch: m}},
	}
}

// jwtClaimsMatch matches a claim at path (["groups"], ["a", "b"]) that is a
// string or a list of strings against any of values: a list claim (aud,
// groups) matches when one element does, as in Istio.
func jwtClaimsMatch(path []string, values []string) *matcher.MetadataMatcher {
	var any []*matcher.ValueMatcher
	for _, v := range values {
		any = append(any, &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_StringMatch{StringMatch: stringMatch(v, "")}})
	}
	value := orValues(any)
	return &matcher.MetadataMatcher{
		Filter: jwtAuthnFilterName,
		Path:   metadataPath(append([]string{jwtPayloadKey}, path...)...),
		Value: orValues([]*matcher.ValueMatcher{
			{MatchPattern: &matcher.ValueMatcher_ListMatch{ListMatch: &matcher.ListMatcher{
				MatchPattern: &matcher.ListMatcher_OneOf{OneOf: value},
			}}},
			value,
		}),
	}
}

func orValues(ms []*matcher.ValueMatcher) *matcher.ValueMatcher {
	if len(ms) == 1 {
		return ms[0]
	}
	return &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_OrMatch{OrMatch: &matcher.OrMatcher{ValueMatchers: ms}}}
}

func metadataPath(keys ...string) []*matcher.MetadataMatcher_PathSegment {
	out := make([]*matcher.MetadataMatcher_PathSegment, len(keys))
	for i, k := range keys {
		out[i] = &matcher.MetadataMatcher_PathSegment{Segment: &matcher.MetadataMatcher_PathSegment_Key{Key: k}}
	}
	return out
}
