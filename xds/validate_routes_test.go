package xds

import (
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
)

// A route table checked a virtual host at a time is judged as the whole
// table is (validate), and says which virtual host failed.
func TestRouteTableIsCheckedAsAWhole(t *testing.T) {
	good := func(name, domain string) *route.VirtualHost {
		return &route.VirtualHost{Name: name, Domains: []string{domain}, Routes: []*route.Route{{
			Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: "c"}}},
		}}}
	}
	cases := []struct {
		name    string
		rc      *route.RouteConfiguration
		wantErr string
	}{
		{name: "good", rc: &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{good("a", "a"), good("b", "b")}}},
		{name: "a virtual host without domains", wantErr: "VirtualHosts[1]",
			rc: &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{good("a", "a"), {Name: "b"}}}},
		{name: "a bad header to add, on the table", wantErr: "RequestHeadersToAdd",
			rc: &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{good("a", "a")},
				RequestHeadersToAdd: []*core.HeaderValueOption{{Header: &core.HeaderValue{Key: "bad\nname", Value: "v"}}}}},
		{name: "a domain twice", wantErr: "domain",
			rc: &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{good("a", "x"), good("b", "X")}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateRouteConfiguration(c.rc, anyCache{}, vhostChecks{})
			whole := validate(c.rc, func(proto.Message) {}, anyCache{})
			if (err == nil) != (whole == nil) {
				t.Fatalf("a virtual host at a time: %v; the whole table: %v", err, whole)
			}
			if c.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want one naming %s", err, c.wantErr)
			}
		})
	}
}

// A virtual host checked before, by this memo or an earlier one, is not
// checked again; each checked is recorded.
func TestVirtualHostsCheckedBeforeAreNotCheckedAgain(t *testing.T) {
	bad := &route.VirtualHost{Name: "bad"} // no domains: fails its checks
	other := &route.VirtualHost{Name: "other", Domains: []string{"o"}}
	rc := &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{bad, other}}
	checked := vhostChecks{}
	if err := validateRouteConfiguration(rc, anyCache{}, checked); err == nil {
		t.Fatal("a virtual host without domains passed")
	}
	if _, ok := checked[bad]; !ok {
		t.Error("the failed virtual host's result was not recorded")
	}
	// As if an earlier memo had found it good: the result is taken as it is.
	checked = vhostChecks{}
	if err := validateRouteConfiguration(rc, anyCache{}, checked, nil, vhostChecks{bad: nil}); err != nil {
		t.Fatalf("the earlier result was not used: %v", err)
	}
	if err, ok := checked[other]; !ok || err != nil {
		t.Errorf("the other virtual host: recorded %v, %v", ok, err)
	}
}
