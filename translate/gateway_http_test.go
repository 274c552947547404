package translate

import (
	"strings"
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestIsCatchAll(t *testing.T) {
	header := []*route.HeaderMatcher{{Name: "x-user"}}
	for _, tc := range []struct {
		name  string
		match *route.RouteMatch
		want  bool
	}{
		{"prefix /", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}}, true},
		{"prefix / ignoring case", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}, CaseSensitive: wrapperspb.Bool(false)}, true},
		{"path-separated prefix /", &route.RouteMatch{PathSpecifier: &route.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/"}}, true},
		{"prefix /api", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/api"}}, false},
		{"exact /", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: "/"}}, false},
		{"prefix / and a header", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}, Headers: header}, false},
		{"prefix / and a query parameter", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}, QueryParameters: []*route.QueryParameterMatcher{{Name: "v"}}}, false},
	} {
		if got := isCatchAll(tc.match); got != tc.want {
			t.Errorf("%s: isCatchAll = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCatchAllLast(t *testing.T) {
	r := func(name, prefix string) *route.Route {
		return &route.Route{Name: name, Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: prefix}}}
	}
	for _, tc := range []struct {
		in   []*route.Route
		want string
	}{
		{nil, ""},
		{[]*route.Route{r("a", "/")}, "a"},
		{[]*route.Route{r("site", "/"), r("api", "/api"), r("other", "/"), r("img", "/img")}, "api img site other"},
		{[]*route.Route{r("api", "/api"), r("img", "/img")}, "api img"},
	} {
		var names []string
		for _, x := range catchAllLast(tc.in) {
			names = append(names, x.Name)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("catchAllLast: %q, want %q", got, tc.want)
		}
	}
}
