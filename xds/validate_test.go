package xds

import (
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/translate"
)

// Each of these makes a real Envoy 1.40 NACK (checked one by one with
// `envoy --mode validate` on a static config); validate must catch it.
func TestValidateRejectsWhatEnvoyRejects(t *testing.T) {
	sock := func(addr string, port uint32) *core.Address {
		return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
			Address: addr, PortSpecifier: &core.SocketAddress_PortValue{PortValue: port}}}}
	}
	la := func(addr string, port uint32) *endpoint.ClusterLoadAssignment {
		return &endpoint.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpoint.LocalityLbEndpoints{{
			LbEndpoints: []*endpoint.LbEndpoint{{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: sock(addr, port)}}}}}}}
	}
	manager := func(m *hcm.HttpConnectionManager) *listener.Filter {
		a, _ := anypb.New(m)
		return &listener.Filter{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listener.Filter_TypedConfig{TypedConfig: a}}
	}
	goodManager := &hcm.HttpConnectionManager{StatPrefix: "x", RouteSpecifier: &hcm.HttpConnectionManager_Rds{
		Rds: &hcm.Rds{RouteConfigName: "r", ConfigSource: &core.ConfigSource{ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}}}}}}
	lis := func(addr string, chains ...*listener.FilterChain) *listener.Listener {
		if len(chains) == 0 {
			chains = []*listener.FilterChain{{Name: "a", Filters: []*listener.Filter{manager(goodManager)}}}
		}
		return &listener.Listener{Name: "l", Address: sock(addr, 8080), FilterChains: chains}
	}
	sni := func(name string, names ...string) *listener.FilterChain {
		return &listener.FilterChain{Name: name, FilterChainMatch: &listener.FilterChainMatch{ServerNames: names}, Filters: []*listener.Filter{manager(goodManager)}}
	}
	vhost := func(name string, domains ...string) *route.VirtualHost {
		return &route.VirtualHost{Name: name, Domains: domains, Routes: []*route.Route{{
			Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: "c"}}}}}}
	}
	for _, tc := range []struct {
		name string
		msg  proto.Message
		want string // in the error; "" for a valid resource
	}{
		{"a good listener", lis("127.0.0.1"), ""},
		{"a good load assignment", la("10.0.0.1", 8080), ""},
		{"a good route table", &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{vhost("a", "a.com", "a.com:80"), vhost("b", "b.com")}}, ""},
		{"chains with different server names", lis("127.0.0.1", sni("a", "a.com"), sni("b", "b.com"), sni("any")), ""},
		// Service targetPort 70000: proto validation (port_value lte 65535).
		{"endpoint port out of range", la("10.0.0.1", 70000), "PortValue"},
		{"cluster port out of range", &cluster.Cluster{Name: "inbound|70000||", ConnectTimeout: durationpb.New(1e9),
			ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}, LoadAssignment: la("127.0.0.1", 70000)}, "PortValue"},
		// Pod IPs abc, 999.1.1.1, with a trailing space.
		{"endpoint address abc", la("abc", 8080), `"abc" is not an IP address`},
		{"endpoint address 999.1.1.1", la("999.1.1.1", 8080), "not an IP address"},
		{"endpoint address with a space", la("10.0.0.1 ", 8080), "not an IP address"},
		{"static cluster address", &cluster.Cluster{Name: "inbound|8080||", ConnectTimeout: durationpb.New(1e9),
			ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}, LoadAssignment: la("not-an-ip", 8080)}, "not an IP address"},
		// A local-address annotation not-an-ip; a gateway pod IP not-an-ip.
		{"listener address", lis("not-an-ip"), "listener address"},
		// Two ports of a Service with the same number.
		{"duplicate domain", &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{vhost("a", "a.com"), vhost("b", "A.com")}}, `domain "A.com" is in virtual hosts "a" and "b"`},
		{"duplicate domain in one virtual host", &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{vhost("a", "a.com", "a.com")}}, "domain"},
		// A gateway VirtualService host with a newline.
		{"domain with a newline", &route.RouteConfiguration{Name: "r", VirtualHosts: []*route.VirtualHost{vhost("a", "a.com\nb")}}, "Domains"},
		{"filter chains that overlap", lis("127.0.0.1", sni("a", "a.com", "b.com"), sni("b", "b.com")), `filter chains "a" and "b"`},
		{"filter chains that match alike", lis("127.0.0.1", sni("a", "b.com", "a.com"), sni("b", "a.com", "b.com")), "match the same connections"},
		{"a bad typed config", lis("127.0.0.1", &listener.FilterChain{Filters: []*listener.Filter{manager(&hcm.HttpConnectionManager{})}}), "HttpConnectionManager"},
		{"a typed config of an unknown type", lis("127.0.0.1", &listener.FilterChain{Filters: []*listener.Filter{{Name: "x",
			ConfigType: &listener.Filter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/no.such.Type"}}}}}), "unknown type"},
		{"filter chain match on a port", lis("127.0.0.1", &listener.FilterChain{Name: "p", FilterChainMatch: &listener.FilterChainMatch{
			DestinationPort: wrapperspb.UInt32(70000)}, Filters: []*listener.Filter{manager(goodManager)}}), "DestinationPort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(tc.msg, nil, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("a valid resource failed: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want one with %q", err, tc.want)
			}
		})
	}
}

// What translate makes of valid meshes passes every check: the checks
// would otherwise hold good config back.
func TestTranslatedMeshesPassTheChecks(t *testing.T) {
	sockshop, err := folder.Load("../examples/sockshop")
	if err != nil {
		t.Fatal(err)
	}
	for name, snap := range map[string]*discovery.Snapshot{
		"sockshop": sockshop, "synthetic": discoverytest.Synthetic(20, 4), "test mesh": testMesh{subset: "v1"}.snapshot(t),
	} {
		ts := newTestServer(t, snap)
		for _, pod := range snap.Pods {
			for _, typ := range []translate.ProxyType{translate.Sidecar, translate.Router} {
				ts.register(t, translate.Proxy{Type: typ, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace}.NodeID())
			}
		}
		if p := ts.Problems(); len(p) > 0 {
			t.Errorf("%s: problems with translated config: %v", name, p)
		}
	}
}

// A bad edit of the client pod: its local address is not an IP. Its
// outbound listener would be renamed not-an-ip_15001 and rejected by Envoy;
// instead it is reported and not sent, and the proxy keeps the listener it
// has (which the new one would have replaced).
func TestAResourceThatFailsIsReportedAndThePreviousOneServed(t *testing.T) {
	ts := newTestServer(t, testMesh{subset: "v1"}.snapshot(t))
	before := ts.register(t, sleepNode)
	ts.apply(testMesh{subset: "v1", sleepLocal: "not-an-ip"}.snapshot(t))
	after := ts.cache.Nodes()[sleepNode]

	listeners := after.typeView(resourcev3.ListenerType)
	if got, want := listeners.sortedNames(), before.typeView(resourcev3.ListenerType).sortedNames(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("listeners after the bad edit: %q, want the previous ones %q", got, want)
	}
	problems := ts.Problems()
	if len(problems) != 1 {
		t.Fatalf("problems: %v, want one", problems)
	}
	p := problems[0]
	if p.Kind != "Pod" || p.Name != "shop/sleep" || !strings.Contains(p.Reason, `listener "not-an-ip_15001"`) ||
		!strings.Contains(p.Reason, "is not an IP address") || !strings.Contains(p.Reason, "keeps its previous version") {
		t.Errorf("problem %+v: want Pod shop/sleep, naming the listener and why", p)
	}
	if got := metricValue(t, ts.metrics.notServed); got != 1 {
		t.Errorf("pilotlight_xds_resources_not_served = %v, want 1", got)
	}
	// Fixed: the problem goes, and the proxy's view is what it was.
	ts.apply(testMesh{subset: "v1"}.snapshot(t))
	if p := ts.Problems(); len(p) != 0 {
		t.Errorf("problems after the fix: %v", p)
	}
	if got, want := ts.cache.Nodes()[sleepNode].typeView(resourcev3.ListenerType).Version, before.typeView(resourcev3.ListenerType).Version; got != want {
		t.Errorf("listeners after the fix: version %s, want %s", got, want)
	}
}

// A shared resource that fails is reported once, naming its Service: a pod
// of front-end with an IP that is not one makes its endpoints fail.
func TestASharedResourceThatFailsNamesItsService(t *testing.T) {
	snap := testMesh{subset: "v1"}.snapshot(t)
	ts := newTestServer(t, snap)
	ts.register(t, sleepNode)
	ts.register(t, gatewayNode)
	bad := testMesh{subset: "v1"}.snapshot(t)
	for _, eps := range bad.Endpoints {
		for _, ep := range eps {
			if ep.PodName == "front-end-v2" {
				ep.Address = "999.1.1.1"
			}
		}
	}
	ts.apply(bad)
	var found bool
	for _, p := range ts.Problems() {
		if strings.Contains(p.Reason, "outbound|80||front-end.shop.svc.cluster.local") {
			found = true
			if p.Kind != "Service" || p.Name != "shop/front-end" || !strings.Contains(p.Reason, `"999.1.1.1" is not an IP address`) {
				t.Errorf("problem %+v: want Service shop/front-end and the address", p)
			}
		}
	}
	if !found {
		t.Fatalf("no problem for the endpoints of front-end: %v", ts.Problems())
	}
	for _, node := range []string{sleepNode, gatewayNode} {
		eps := ts.cache.Nodes()[node].typeView(resourcev3.EndpointType).Resources[translate.OutboundClusterName(80, "", "front-end.shop.svc.cluster.local")]
		if eps == nil || eps.invalid != nil {
			t.Errorf("%s: endpoints of front-end: %v, want the previous (valid) version", node, eps)
		}
	}
}

// A route to a cluster the proxy does not have is not sent: Envoy would
// take it and answer 503 (no_cluster).
func TestARouteToAMissingClusterIsNotServed(t *testing.T) {
	memo := newMarshalMemo(newProblemLog(testMesh{subset: "v1"}.snapshot(t), nil, nil))
	p := translate.Proxy{Type: translate.Sidecar, IP: "127.31.0.3", PodName: "sleep", Namespace: "shop"}
	rc := &route.RouteConfiguration{Name: "http_proxy", VirtualHosts: []*route.VirtualHost{{Name: "a", Domains: []string{"a"}, Routes: []*route.Route{{
		Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
		Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: "outbound|80|v3|front-end.shop.svc.cluster.local"}}}}}}}}
	v, err := buildView("test", memo, p, &translate.Resources{Routes: []*route.RouteConfiguration{rc}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.typeView(resourcev3.RouteType).Resources); n != 0 {
		t.Errorf("the route table was served (%d resources)", n)
	}
	problems := memo.problems.list()
	if len(problems) != 1 || !strings.Contains(problems[0].Reason, "clusters this proxy does not have") || !strings.Contains(problems[0].Reason, "v3") {
		t.Errorf("problems: %v", problems)
	}
}
