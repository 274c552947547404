package discovery

import (
	"strings"
	"testing"

	networking "istio.io/api/networking/v1"
)

func server(number uint32, name, protocol string, tls *networking.ServerTLSSettings, hosts ...string) *networking.Server {
	return &networking.Server{Port: &networking.Port{Number: number, Name: name, Protocol: protocol}, Hosts: hosts, Tls: tls}
}

func simpleTLS(credentialName string) *networking.ServerTLSSettings {
	return &networking.ServerTLSSettings{Mode: networking.ServerTLSSettings_SIMPLE, CredentialName: credentialName}
}

var passthrough = &networking.ServerTLSSettings{Mode: networking.ServerTLSSettings_PASSTHROUGH}

// TestValidateGatewayServers: one mistake per case, reported on its field.
func TestValidateGatewayServers(t *testing.T) {
	http := server(8080, "http", "HTTP", nil, "*")
	cases := []struct {
		name        string
		servers     []*networking.Server
		field, want string
	}{
		{"https from a secret", []*networking.Server{server(8443, "https", "HTTPS", simpleTLS("cert"), "shop.example.com")}, "", ""},
		{"https from files", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_SIMPLE, ServerCertificate: "/c.pem", PrivateKey: "/k.pem"}, "*")}, "", ""},
		{"mutual from a secret", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_MUTUAL, CredentialName: "c"}, "*")}, "", ""},
		{"mutual from files", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_MUTUAL, ServerCertificate: "/c.pem", PrivateKey: "/k.pem", CaCertificates: "/ca.pem"}, "*")}, "", ""},
		{"passthrough next to https", []*networking.Server{
			server(8443, "tls", "TLS", passthrough, "*.db.example.com"),
			server(8443, "https", "HTTPS", simpleTLS("cert"), "web.example.com")}, "", ""},
		{"two http servers share a port", []*networking.Server{http, server(8080, "http-2", "HTTP", nil, "a.example.com")}, "", ""},
		{"namespace/host forms", []*networking.Server{server(8080, "http", "HTTP", nil, "./a.example.com", "shop/*.example.com", "*/b")}, "", ""},
		{"redirect on http", []*networking.Server{server(8080, "http", "HTTP", &networking.ServerTLSSettings{HttpsRedirect: true}, "*")}, "", ""},

		{"unknown protocol", []*networking.Server{server(25, "smtp", "SMTP", nil, "*")}, "spec.servers[0].port.protocol", "SMTP"},
		{"no protocol", []*networking.Server{server(80, "http", "", nil, "*")}, "spec.servers[0].port.protocol", "required"},
		{"port out of range", []*networking.Server{server(70000, "http", "HTTP", nil, "*")}, "spec.servers[0].port.number", "70000"},
		{"no port name", []*networking.Server{server(8080, "", "HTTP", nil, "*")}, "spec.servers[0].port.name", "required"},
		{"duplicate port name", []*networking.Server{http, server(9090, "http", "HTTP", nil, "*")}, "spec.servers[1].port.name", "spec.servers[0]"},
		{"bad host", []*networking.Server{server(8080, "http", "HTTP", nil, "shop_example")}, "spec.servers[0].hosts[0]", "DNS name"},
		{"two slashes", []*networking.Server{server(8080, "http", "HTTP", nil, "a/b/c")}, "spec.servers[0].hosts[0]", "one \"/\""},
		{"bad namespace", []*networking.Server{server(8080, "http", "HTTP", nil, "Shop!/a.example.com")}, "spec.servers[0].hosts[0]", "namespace"},
		{"https without tls", []*networking.Server{server(8443, "https", "HTTPS", nil, "*")}, "spec.servers[0].tls", "needs tls settings"},
		{"https without certificate", []*networking.Server{server(8443, "https", "HTTPS", simpleTLS(""), "*")}, "spec.servers[0].tls", "needs a certificate"},
		{"key without certificate", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_SIMPLE, PrivateKey: "/k.pem"}, "*")}, "spec.servers[0].tls.serverCertificate", "without serverCertificate"},
		{"mutual without a CA", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_MUTUAL, ServerCertificate: "/c.pem", PrivateKey: "/k.pem"}, "*")},
			"spec.servers[0].tls.caCertificates", "needs a CA"},
		{"caCertificates with SIMPLE", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_SIMPLE, CredentialName: "c", CaCertificates: "/ca.pem"}, "*")},
			"spec.servers[0].tls.caCertificates", "only used with mode MUTUAL"},
		{"mutual with subjectAltNames", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_MUTUAL, CredentialName: "c", SubjectAltNames: []string{"client"}}, "*")},
			"spec.servers[0].tls.subjectAltNames", "not supported"},
		{"istio mutual is not supported", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_ISTIO_MUTUAL}, "*")}, "spec.servers[0].tls.mode", "not supported"},
		{"tls termination of TLS is not supported", []*networking.Server{server(8443, "tls", "TLS", simpleTLS("c"), "*")}, "spec.servers[0].tls.mode", "not supported"},
		{"certificate on passthrough", []*networking.Server{server(8443, "tls", "TLS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_PASSTHROUGH, CredentialName: "c"}, "*")}, "spec.servers[0].tls", "only used by HTTPS"},
		{"max below min", []*networking.Server{server(8443, "https", "HTTPS", &networking.ServerTLSSettings{
			Mode: networking.ServerTLSSettings_SIMPLE, CredentialName: "c",
			MinProtocolVersion: networking.ServerTLSSettings_TLSV1_3, MaxProtocolVersion: networking.ServerTLSSettings_TLSV1_2}, "*")},
			"spec.servers[0].tls.maxProtocolVersion", "below"},
		{"http and https on one port", []*networking.Server{http, server(8080, "https", "HTTPS", simpleTLS("c"), "*")}, "spec.servers[1].port", "already used by spec.servers[0]"},
		{"two tcp servers on one port", []*networking.Server{server(9000, "tcp", "TCP", nil, "*"), server(9000, "tcp-2", "TCP", nil, "*")},
			"spec.servers[1].port", "one TCP server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := &Gateway{Meta: Meta{Name: "gw", Namespace: "ns"}, Spec: &networking.Gateway{
				Selector: map[string]string{"istio": "ingressgateway"}, Servers: tc.servers}}
			checkProblems(t, ValidateGateway(gw), "Gateway", "ns/gw", tc.field, tc.want)
		})
	}
}

func TestServerKind(t *testing.T) {
	cases := []struct {
		protocol string
		tls      *networking.ServerTLSSettings
		want     GatewayServerKind
	}{
		{"HTTP", nil, GatewayHTTP},
		{"http2", nil, GatewayHTTP},
		{"GRPC", nil, GatewayHTTP},
		{"HTTPS", simpleTLS("c"), GatewayHTTPS},
		{"HTTPS", &networking.ServerTLSSettings{Mode: networking.ServerTLSSettings_MUTUAL}, GatewayHTTPS},
		{"HTTPS", &networking.ServerTLSSettings{Mode: networking.ServerTLSSettings_ISTIO_MUTUAL}, GatewayUnsupported},
		{"HTTPS", passthrough, GatewayPassthrough},
		{"TLS", passthrough, GatewayPassthrough},
		{"TCP", nil, GatewayTCP},
		{"MONGO", nil, GatewayTCP},
		{"HTTPS", nil, GatewayUnsupported}, // no tls settings at all
		{"TLS", simpleTLS("c"), GatewayUnsupported},
		{"UDP", nil, GatewayUnsupported},
	}
	for _, tc := range cases {
		if got := ServerKind(server(1, "p", tc.protocol, tc.tls, "*")); got != tc.want {
			t.Errorf("ServerKind(%s, %v) = %d, want %d", tc.protocol, tc.tls.GetMode(), got, tc.want)
		}
	}
}

// TestCheckGatewaySecrets: a credentialName is looked up in the namespace
// of each gateway pod the Gateway selects; a missing one is reported on the
// server's field, and the Gateway is kept.
func TestCheckGatewaySecrets(t *testing.T) {
	gwLabels := map[string]string{"istio": "ingressgateway"}
	s := &Snapshot{
		Pods: []*Pod{
			{Meta: Meta{Name: "gw-a", Namespace: "edge", Labels: gwLabels}},
			{Meta: Meta{Name: "gw-b", Namespace: "edge", Labels: gwLabels}},
			{Meta: Meta{Name: "gw-c", Namespace: "other-edge", Labels: gwLabels}},
			{Meta: Meta{Name: "app", Namespace: "shop", Labels: map[string]string{"app": "shop"}}},
		},
		Secrets: []*Secret{{Meta: Meta{Name: "shop-cert", Namespace: "edge"}}},
		Gateways: []*Gateway{{Meta: Meta{Name: "shop", Namespace: "shop"}, Spec: &networking.Gateway{
			Selector: gwLabels,
			Servers: []*networking.Server{
				server(8080, "http", "HTTP", nil, "*"),
				server(8443, "https", "HTTPS", simpleTLS("shop-cert"), "*"),
			}}}},
	}
	problems := CheckGatewaySecrets(s)
	if len(problems) != 1 {
		t.Fatalf("problems %v, want one: the Secret is missing in namespace other-edge only", problems)
	}
	p := problems[0]
	if p.Kind != "Gateway" || p.Name != "shop/shop" || p.Field != "spec.servers[1].tls.credentialName" || !strings.Contains(p.Reason, "other-edge/shop-cert") {
		t.Errorf("problem %s", p)
	}
}

// TestCheckGatewaySecretsMutual: mode MUTUAL needs the Secret's CA
// certificate to verify clients with; a Secret without one is reported.
func TestCheckGatewaySecretsMutual(t *testing.T) {
	gwLabels := map[string]string{"istio": "ingressgateway"}
	mutual := func(name string) *networking.ServerTLSSettings {
		return &networking.ServerTLSSettings{Mode: networking.ServerTLSSettings_MUTUAL, CredentialName: name}
	}
	s := &Snapshot{
		Pods: []*Pod{{Meta: Meta{Name: "gw", Namespace: "edge", Labels: gwLabels}}},
		Secrets: []*Secret{
			{Meta: Meta{Name: "with-ca", Namespace: "edge"}, CACert: []byte("PEM")},
			{Meta: Meta{Name: "without-ca", Namespace: "edge"}},
		},
		Gateways: []*Gateway{{Meta: Meta{Name: "shop", Namespace: "edge"}, Spec: &networking.Gateway{
			Selector: gwLabels,
			Servers: []*networking.Server{
				server(8443, "https-a", "HTTPS", mutual("with-ca"), "a.example.com"),
				server(8443, "https-b", "HTTPS", mutual("without-ca"), "b.example.com"),
				server(8443, "https-c", "HTTPS", simpleTLS("without-ca"), "c.example.com"),
			}}}},
	}
	problems := CheckGatewaySecrets(s)
	if len(problems) != 1 || problems[0].Field != "spec.servers[1].tls.credentialName" || !strings.Contains(problems[0].Reason, "no CA certificate") {
		t.Fatalf("problems %v, want one on spec.servers[1].tls.credentialName: edge/without-ca has no CA for MUTUAL", problems)
	}
}

// TestValidateVirtualServiceL4: tcp and tls routes and exportTo.
func TestValidateVirtualServiceL4(t *testing.T) {
	to := func(host string) []*networking.RouteDestination {
		return []*networking.RouteDestination{{Destination: &networking.Destination{Host: host}}}
	}
	cases := []struct {
		name        string
		spec        *networking.VirtualService
		field, want string
	}{
		{"tls route", &networking.VirtualService{Hosts: []string{"catalogue"}, Tls: []*networking.TLSRoute{{
			Match: []*networking.TLSMatchAttributes{{SniHosts: []string{"catalogue.sock-shop.svc.cluster.local"}}}, Route: to("catalogue")}}}, "", ""},
		{"tls route, wildcard host", &networking.VirtualService{Hosts: []string{"*.example.com"}, Gateways: []string{"gw"}, Tls: []*networking.TLSRoute{{
			Match: []*networking.TLSMatchAttributes{{SniHosts: []string{"db.example.com"}}}, Route: to("catalogue")}}}, "", ""},
		{"exportTo", &networking.VirtualService{Hosts: []string{"catalogue"}, ExportTo: []string{".", "shop", "*"},
			Http: []*networking.HTTPRoute{routeTo(weighted(dest("catalogue", "", 0), 0))}}, "", ""},

		{"tls route without match", &networking.VirtualService{Hosts: []string{"catalogue"}, Tls: []*networking.TLSRoute{{Route: to("catalogue")}}},
			"spec.tls[0].match", "sniHosts"},
		{"tls match without sni", &networking.VirtualService{Hosts: []string{"catalogue"}, Tls: []*networking.TLSRoute{{
			Match: []*networking.TLSMatchAttributes{{Port: 443}}, Route: to("catalogue")}}}, "spec.tls[0].match[0].sniHosts", "required"},
		{"sni outside the hosts", &networking.VirtualService{Hosts: []string{"catalogue"}, Tls: []*networking.TLSRoute{{
			Match: []*networking.TLSMatchAttributes{{SniHosts: []string{"example.com"}}}, Route: to("catalogue")}}}, "spec.tls[0].match[0].sniHosts[0]", "not within"},
		{"tcp route without destination", &networking.VirtualService{Hosts: []string{"catalogue"}, Tcp: []*networking.TCPRoute{{}}},
			"spec.tcp[0].route", "at least one"},
		{"bad exportTo", &networking.VirtualService{Hosts: []string{"catalogue"}, ExportTo: []string{"~"},
			Http: []*networking.HTTPRoute{routeTo(weighted(dest("catalogue", "", 0), 0))}}, "spec.exportTo[0]", "namespace name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs := &VirtualService{Meta: Meta{Name: "vs", Namespace: "sock-shop"}, Spec: tc.spec}
			checkProblems(t, ValidateVirtualService(vs, testServices, testRules), "VirtualService", "sock-shop/vs", tc.field, tc.want)
		})
	}
}

func TestExportedTo(t *testing.T) {
	cases := []struct {
		exportTo []string
		own, ns  string
		want     bool
	}{
		{nil, "a", "b", true},
		{[]string{"*"}, "a", "b", true},
		{[]string{"."}, "a", "a", true},
		{[]string{"."}, "a", "b", false},
		{[]string{"b", "c"}, "a", "b", true},
		{[]string{"b", "c"}, "a", "a", false},
		{[]string{".", "c"}, "a", "a", true},
	}
	for _, tc := range cases {
		if got := ExportedTo(tc.exportTo, tc.own, tc.ns); got != tc.want {
			t.Errorf("ExportedTo(%v, %q, %q) = %v, want %v", tc.exportTo, tc.own, tc.ns, got, tc.want)
		}
	}
}
