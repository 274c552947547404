package discovery

import (
	"strings"
	"testing"

	networking "istio.io/api/networking/v1"
)

// The mesh the VirtualService cases route in: catalogue has one port, orders
// two, and a DestinationRule in another namespace gives catalogue subsets.
var (
	testServices = []*Service{
		{Meta: Meta{Name: "catalogue", Namespace: "sock-shop"}, Hostname: "catalogue.sock-shop.svc.cluster.local",
			Ports: []ServicePort{{Name: "http", Port: 80}}},
		{Meta: Meta{Name: "orders", Namespace: "sock-shop"}, Hostname: "orders.sock-shop.svc.cluster.local",
			Ports: []ServicePort{{Name: "http", Port: 80}, {Name: "grpc", Port: 9000}}},
	}
	testRules = []*DestinationRule{
		{Meta: Meta{Name: "catalogue", Namespace: "istio-config"}, Spec: &networking.DestinationRule{
			Host: "catalogue.sock-shop",
			Subsets: []*networking.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}},
				{Name: "v2", Labels: map[string]string{"version": "v2"}},
			}}},
	}
)

func dest(host, subset string, port uint32) *networking.Destination {
	d := &networking.Destination{Host: host, Subset: subset}
	if port != 0 {
		d.Port = &networking.PortSelector{Number: port}
	}
	return d
}

func routeTo(dests ...*networking.HTTPRouteDestination) *networking.HTTPRoute {
	return &networking.HTTPRoute{Route: dests}
}

func weighted(d *networking.Destination, weight int32) *networking.HTTPRouteDestination {
	return &networking.HTTPRouteDestination{Destination: d, Weight: weight}
}

func regexMatch(re string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: re}}
}

func TestValidateVirtualService(t *testing.T) {
	cases := []struct {
		name  string
		spec  *networking.VirtualService
		field string // of the only problem; "" when valid
		want  string // part of its reason
	}{{
		name: "valid split by subset, short host resolved in the VirtualService's namespace",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{routeTo(
			weighted(dest("catalogue", "v1", 0), 90), weighted(dest("catalogue.sock-shop", "v2", 80), 10))}},
	}, {
		name: "single destination without weight",
		spec: &networking.VirtualService{Hosts: []string{"orders"}, Http: []*networking.HTTPRoute{routeTo(
			weighted(dest("orders", "", 9000), 0))}},
	}, {
		name:  "no hosts",
		spec:  &networking.VirtualService{Http: []*networking.HTTPRoute{routeTo(weighted(dest("catalogue", "", 0), 0))}},
		field: "spec.hosts", want: "at least one host",
	}, {
		name:  "http route without action",
		spec:  &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{{Name: "nothing"}}},
		field: "spec.http[0]", want: "route, redirect or directResponse",
	}, {
		name: "redirect is an action",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{
			{Redirect: &networking.HTTPRedirect{Uri: "/new"}}}},
	}, {
		name: "weights do not add up",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{routeTo(
			weighted(dest("catalogue", "v1", 0), 80), weighted(dest("catalogue", "v2", 0), 30))}},
		field: "spec.http[0].route", want: "add up to 110",
	}, {
		name: "two destinations without weights",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{routeTo(
			weighted(dest("catalogue", "v1", 0), 0), weighted(dest("catalogue", "v2", 0), 0))}},
		field: "spec.http[0].route", want: "add up to 0",
	}, {
		name: "lone weight below 100",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{routeTo(
			weighted(dest("catalogue", "v1", 0), 50))}},
		field: "spec.http[0].route", want: "add up to 50",
	}, {
		name: "negative weight",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{routeTo(
			weighted(dest("catalogue", "v1", 0), 120), weighted(dest("catalogue", "v2", 0), -20))}},
		field: "spec.http[0].route[1].weight", want: "negative",
	}, {
		name: "unknown subset",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{
			routeTo(weighted(dest("catalogue", "v1", 0), 0)),
			routeTo(weighted(dest("catalogue", "v3", 0), 0))}},
		field: "spec.http[1].route[0].destination.subset", want: `subset "v3"`,
	}, {
		name: "subset of a rule for another host",
		spec: &networking.VirtualService{Hosts: []string{"orders"}, Http: []*networking.HTTPRoute{
			routeTo(weighted(dest("orders", "v1", 80), 0))}},
		field: "spec.http[0].route[0].destination.subset", want: "orders.sock-shop.svc.cluster.local",
	}, {
		name: "bad uri regex",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{{
			Match: []*networking.HTTPMatchRequest{{Uri: regexMatch("/ok")}, {Uri: regexMatch("/items/(+")}},
			Route: []*networking.HTTPRouteDestination{weighted(dest("catalogue", "", 0), 0)}}}},
		field: "spec.http[0].match[1].uri.regex", want: "RE2",
	}, {
		name: "lookahead is not RE2",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{{
			Match: []*networking.HTTPMatchRequest{{Headers: map[string]*networking.StringMatch{
				"x-user": regexMatch("(?=admin)"), "x-ok": regexMatch("a.*")}}},
			Route: []*networking.HTTPRouteDestination{weighted(dest("catalogue", "", 0), 0)}}}},
		field: "spec.http[0].match[0].headers.x-user.regex", want: "RE2",
	}, {
		name: "bad query param regex",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{{
			Match: []*networking.HTTPMatchRequest{{QueryParams: map[string]*networking.StringMatch{"q": regexMatch("[")}}},
			Route: []*networking.HTTPRouteDestination{weighted(dest("catalogue", "", 0), 0)}}}},
		field: "spec.http[0].match[0].queryParams.q.regex", want: "RE2",
	}, {
		// As in Istio: each port of orders to the same port of orders.
		name: "no port for a service with several ports",
		spec: &networking.VirtualService{Hosts: []string{"orders"}, Http: []*networking.HTTPRoute{
			routeTo(weighted(dest("orders", "", 0), 0))}},
	}, {
		name: "port the service does not have",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{
			routeTo(weighted(dest("catalogue", "", 8080), 0))}},
		field: "spec.http[0].route[0].destination.port.number", want: "no port 8080",
	}, {
		name: "unknown host is not checked for ports",
		spec: &networking.VirtualService{Hosts: []string{"x"}, Http: []*networking.HTTPRoute{
			routeTo(weighted(dest("payments", "", 1234), 0))}},
	}, {
		name: "tcp route weights",
		spec: &networking.VirtualService{Hosts: []string{"orders"}, Tcp: []*networking.TCPRoute{{Route: []*networking.RouteDestination{
			{Destination: dest("orders", "", 9000), Weight: 60}, {Destination: dest("orders", "", 80), Weight: 60}}}}},
		field: "spec.tcp[0].route", want: "add up to 120",
	}, {
		name: "destination without host",
		spec: &networking.VirtualService{Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{
			routeTo(weighted(nil, 0))}},
		field: "spec.http[0].route[0].destination.host", want: "required",
	}}
	v := NewValidator(testServices, testRules)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs := &VirtualService{Meta: Meta{Name: "routes", Namespace: "sock-shop"}, Spec: tc.spec}
			problems := v.VirtualService(vs)
			checkProblems(t, problems, "VirtualService", "sock-shop/routes", tc.field, tc.want)
		})
	}
}

func checkProblems(t *testing.T, problems []Problem, kind, name, field, want string) {
	t.Helper()
	if field == "" {
		for _, p := range problems {
			t.Errorf("unexpected problem: %s", p)
		}
		return
	}
	if len(problems) != 1 {
		t.Fatalf("got problems %v, want one for %s", problems, field)
	}
	p := problems[0]
	if p.Kind != kind || p.Name != name || p.Field != field || !strings.Contains(p.Reason, want) {
		t.Errorf("problem = %q\nwant %s %s: %s: ...%s...", p, kind, name, field, want)
	}
}

func TestValidateDestinationRule(t *testing.T) {
	labels := map[string]string{"version": "v1"}
	cases := []struct {
		name        string
		spec        *networking.DestinationRule
		field, want string
	}{
		{"valid", &networking.DestinationRule{Host: "catalogue", Subsets: []*networking.Subset{{Name: "v1", Labels: labels}}}, "", ""},
		{"no host", &networking.DestinationRule{}, "spec.host", "required"},
		{"subset without name", &networking.DestinationRule{Host: "a", Subsets: []*networking.Subset{{Labels: labels}}},
			"spec.subsets[0].name", "required"},
		{"duplicate subset", &networking.DestinationRule{Host: "a", Subsets: []*networking.Subset{{Name: "v1", Labels: labels}, {Name: "v1", Labels: labels}}},
			"spec.subsets[1].name", "spec.subsets[0]"},
		{"subset without labels", &networking.DestinationRule{Host: "a", Subsets: []*networking.Subset{{Name: "v1"}}},
			"spec.subsets[0].labels", "required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dr := &DestinationRule{Meta: Meta{Name: "rule", Namespace: "ns"}, Spec: tc.spec}
			checkProblems(t, ValidateDestinationRule(dr), "DestinationRule", "ns/rule", tc.field, tc.want)
		})
	}
}

func TestValidateGateway(t *testing.T) {
	http := &networking.Port{Number: 80, Name: "http", Protocol: "HTTP"}
	cases := []struct {
		name        string
		spec        *networking.Gateway
		field, want string
	}{
		{"valid", &networking.Gateway{Servers: []*networking.Server{{Port: http, Hosts: []string{"*"}}}}, "", ""},
		{"no servers", &networking.Gateway{}, "spec.servers", "at least one"},
		{"no port", &networking.Gateway{Servers: []*networking.Server{{Port: http, Hosts: []string{"*"}}, {Hosts: []string{"*"}}}},
			"spec.servers[1].port.number", "required"},
		{"no hosts", &networking.Gateway{Servers: []*networking.Server{{Port: http}}}, "spec.servers[0].hosts", "at least one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := &Gateway{Meta: Meta{Name: "gw", Namespace: "ns"}, Spec: tc.spec}
			checkProblems(t, ValidateGateway(gw), "Gateway", "ns/gw", tc.field, tc.want)
		})
	}
}

func TestValidateDropsInvalidObjects(t *testing.T) {
	badRule := &DestinationRule{Meta: Meta{Name: "bad", Namespace: "sock-shop"}, Spec: &networking.DestinationRule{
		Host: "orders", Subsets: []*networking.Subset{{Name: "v1"}}}}
	usesBadRule := &VirtualService{Meta: Meta{Name: "orders", Namespace: "sock-shop"}, Spec: &networking.VirtualService{
		Hosts: []string{"orders"}, Http: []*networking.HTTPRoute{routeTo(weighted(dest("orders", "v1", 80), 0))}}}
	good := &VirtualService{Meta: Meta{Name: "catalogue", Namespace: "sock-shop"}, Spec: &networking.VirtualService{
		Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{routeTo(weighted(dest("catalogue", "v1", 0), 0))}}}
	s := &Snapshot{
		Services:         testServices,
		DestinationRules: append([]*DestinationRule{badRule}, testRules...),
		VirtualServices:  []*VirtualService{usesBadRule, good},
		Gateways:         []*Gateway{{Meta: Meta{Name: "empty", Namespace: "sock-shop"}, Spec: &networking.Gateway{}}},
	}
	problems := Validate(s)
	if len(s.DestinationRules) != 1 || len(s.VirtualServices) != 1 || s.VirtualServices[0] != good || len(s.Gateways) != 0 {
		t.Errorf("kept %d rules, %d virtual services, %d gateways; want 1, 1 (catalogue), 0",
			len(s.DestinationRules), len(s.VirtualServices), len(s.Gateways))
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.Kind+" "+p.Name+" "+p.Field)
	}
	want := "DestinationRule sock-shop/bad spec.subsets[0].labels|Gateway sock-shop/empty spec.servers|" +
		"VirtualService sock-shop/orders spec.http[0].route[0].destination.subset"
	if strings.Join(got, "|") != want {
		t.Errorf("problems = %v\nwant %s", got, want)
	}
}

// TestDestinationWithoutPortOnSeveralPorts: without destination.port, each
// port's traffic goes to the same port of the destination, as in Istio; a
// port the destination lacks is a warning (those requests get 503).
func TestDestinationWithoutPortOnSeveralPorts(t *testing.T) {
	services := append([]*Service{{Meta: Meta{Name: "web", Namespace: "sock-shop"}, Hostname: "web.sock-shop.svc.cluster.local",
		Ports: []ServicePort{{Name: "http", Port: 80}, {Name: "admin", Port: 8081}}}}, testServices...)
	vs := &VirtualService{Meta: Meta{Name: "vs", Namespace: "sock-shop"}, Spec: &networking.VirtualService{
		Hosts: []string{"web"}, Http: []*networking.HTTPRoute{routeTo(weighted(dest("orders", "", 0), 0))}}}
	problems := ValidateVirtualService(vs, services, testRules)
	if len(problems) != 1 || !isWarning(problems[0]) || problems[0].Field != "spec.http[0].route[0].destination.port" ||
		!strings.Contains(problems[0].Reason, "port 8081") {
		t.Errorf("problems %v, want one warning: port 8081 of web goes to orders, which has no 8081", problems)
	}
	vs.Spec.Gateways = []string{"edge/gw"} // a gateway's routes: its servers' ports, not web's
	if problems := ValidateVirtualService(vs, services, testRules); len(problems) != 0 {
		t.Errorf("bound to a gateway: problems %v, want none", problems)
	}
}
