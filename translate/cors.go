package translate

import (
	"strconv"
	"strings"

	cors "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// corsFilter is envoy.filters.http.cors with no policy of its own: it acts
// on routes whose typed_per_filter_config carries a VirtualService rule's
// corsPolicy (corsPolicy). Outbound only, like faultFilter.
type corsFilter struct{}

func (corsFilter) build(c filterContext) *hcm.HttpFilter {
	if c.dir == inbound {
		return nil
	}
	return &hcm.HttpFilter{
		Name:       wellknown.CORS,
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(&cors.Cors{})},
	}
}

// corsPolicy is a rule's corsPolicy as the CORS filter's per-route policy:
//
//	allowOrigins (exact/prefix/regex) → allow_origin_string_match
//	allowOrigin (legacy, exact)       → allow_origin_string_match, when allowOrigins is unset
//	allowMethods / allowHeaders / exposeHeaders → the same, comma-joined
//	maxAge                            → max_age, in whole seconds
//	allowCredentials                  → allow_credentials
//	unmatchedPreflights               → forward_not_matching_preflights (IGNORE: false;
//	                                    else true, which forwards a preflight from an
//	                                    origin not allowed to the app, as Envoy did before 1.30)
//
// A preflight from an allowed origin is answered by Envoy itself; other
// requests from it get the allow-origin (and expose/credentials) headers
// added to the app's answer. A request from any other origin gets none.
func corsPolicy(in *networking.CorsPolicy) *cors.CorsPolicy {
	if in == nil {
		return nil
	}
	out := &cors.CorsPolicy{
		AllowOriginStringMatch:       allowedOrigins(in),
		AllowMethods:                 strings.Join(in.GetAllowMethods(), ","),
		AllowHeaders:                 strings.Join(in.GetAllowHeaders(), ","),
		ExposeHeaders:                strings.Join(in.GetExposeHeaders(), ","),
		AllowCredentials:             in.GetAllowCredentials(),
		ForwardNotMatchingPreflights: wrapperspb.Bool(in.GetUnmatchedPreflights() != networking.CorsPolicy_IGNORE),
	}
	if in.GetMaxAge() != nil {
		out.MaxAge = strconv.FormatInt(in.GetMaxAge().GetSeconds(), 10)
	}
	return out
}

func allowedOrigins(in *networking.CorsPolicy) []*matcher.StringMatcher {
	var out []*matcher.StringMatcher
	if len(in.GetAllowOrigins()) > 0 {
		for _, o := range in.GetAllowOrigins() {
			if sm := stringMatcher(o); sm != nil {
				out = append(out, sm)
			}
		}
		return out
	}
	//nolint:staticcheck // allowOrigin is deprecated, and still served by Istio.
	for _, o := range in.GetAllowOrigin() {
		out = append(out, &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: o}})
	}
	return out
}
