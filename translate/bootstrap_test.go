package translate

import (
	"path/filepath"
	"testing"

	grpccredential "github.com/envoyproxy/go-control-plane/envoy/config/grpc_credential/v3"
	cares "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

func testBootstrapOptions() BootstrapOptions {
	return BootstrapOptions{Proxy: Proxy{Type: Sidecar, IP: "127.10.0.1", PodName: "a", Namespace: "ns"}, XDSAddr: "127.0.0.1:15010", AdminAddr: "127.20.0.1:15000",
		TokenFile: "/state/tokens/ns.a.token", RootCertFile: "/state/root-cert.pem"}
}

// TestBootstrapProvesIdentity: the ADS client is google_grpc over TLS with
// the mesh root, sending the token file as a bearer token; without a
// token file or a root there is no bootstrap.
func TestBootstrapProvesIdentity(t *testing.T) {
	b, err := Bootstrap(testBootstrapOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	g := b.GetDynamicResources().GetAdsConfig().GetGrpcServices()[0].GetGoogleGrpc()
	if g.GetTargetUri() != "127.0.0.1:15010" || g.GetChannelCredentials().GetSslCredentials().GetRootCerts().GetFilename() != "/state/root-cert.pem" {
		t.Errorf("channel: %v", g)
	}
	token := &grpccredential.FileBasedMetadataConfig{}
	if err := g.GetCallCredentials()[0].GetFromPlugin().GetTypedConfig().UnmarshalTo(token); err != nil {
		t.Fatal(err)
	}
	if token.GetSecretData().GetFilename() != "/state/tokens/ns.a.token" || token.GetHeaderKey() != "authorization" || token.GetHeaderPrefix() != "Bearer " {
		t.Errorf("call credentials: %v", token)
	}
	for _, o := range []BootstrapOptions{
		{Proxy: testBootstrapOptions().Proxy, XDSAddr: "127.0.0.1:15010", AdminAddr: "127.20.0.1:15000", RootCertFile: "/r"},
		{Proxy: testBootstrapOptions().Proxy, XDSAddr: "127.0.0.1:15010", AdminAddr: "127.20.0.1:15000", TokenFile: "/t"},
	} {
		if _, err := Bootstrap(o); err == nil {
			t.Errorf("a bootstrap without a token or a root: %+v", o)
		}
	}
}

// TestBootstrapDNSResolver: with a DNS address the bootstrap resolves with
// c-ares asking only that address over UDP, names as written; without one
// it leaves Envoy the host's resolvers.
func TestBootstrapDNSResolver(t *testing.T) {
	o := testBootstrapOptions()
	b, err := Bootstrap(o)
	if err != nil || b.TypedDnsResolverConfig != nil {
		t.Fatalf("without --dns-addr: %v, resolver %v", err, b.GetTypedDnsResolverConfig())
	}
	o.DNSAddr = "127.0.0.1:15053"
	b, err = Bootstrap(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	c := &cares.CaresDnsResolverConfig{}
	if err := b.GetTypedDnsResolverConfig().GetTypedConfig().UnmarshalTo(c); err != nil {
		t.Fatal(err)
	}
	addr := c.Resolvers[0].GetSocketAddress()
	if len(c.Resolvers) != 1 || addr.GetAddress() != "127.0.0.1" || addr.GetPortValue() != 15053 || addr.GetProtocol().String() != "UDP" || !c.GetDnsResolverOptions().GetNoDefaultSearchDomain() {
		t.Errorf("resolver config %v", c)
	}
	o.DNSAddr = "127.0.0.1"
	if _, err := Bootstrap(o); err == nil {
		t.Error("a DNS address without a port was accepted")
	}
}

// TestBootstrapGolden: the bootstrap of a local-mode sidecar (what
// `pilotlight bootstrap` prints) and of an injected, captured one (DNS name
// of the xDS Service, node metadata, the readiness listener).
func TestBootstrapGolden(t *testing.T) {
	cases := map[string]BootstrapOptions{
		"local": {
			Proxy:        Proxy{Type: Sidecar, IP: "127.10.0.1", PodName: "front-end-v1", Namespace: "sock-shop"},
			XDSAddr:      "127.0.0.1:15010",
			AdminAddr:    "127.20.0.1:15000",
			TokenFile:    "/home/me/.local/state/pilotlight/tokens/sock-shop.front-end-v1.token",
			RootCertFile: "/home/me/.local/state/pilotlight/root-cert.pem",
		},
		"captured": {
			Proxy:          Proxy{Type: Sidecar, IP: "$(POD_IP)", PodName: "$(POD_NAME)", Namespace: "$(POD_NAMESPACE)", Interception: InterceptRedirect},
			ServiceAccount: "$(SERVICE_ACCOUNT)",
			XDSAddr:        "pilotlight.pilotlight-system.svc:15010",
			AdminAddr:      "127.0.0.1:15000",
			HealthPort:     HealthPort,
			TokenFile:      "/var/run/secrets/tokens/pilotlight-token",
			RootCertFile:   "/var/run/secrets/istio/root-cert.pem",
		},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := Bootstrap(opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.ValidateAll(); err != nil {
				t.Fatal(err)
			}
			js, err := protojson.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			y, err := yaml.JSONToYAML(js)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "bootstrap", name+".yaml"), y)
		})
	}
}
