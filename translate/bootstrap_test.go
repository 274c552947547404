package translate

import (
	"path/filepath"
	"testing"

	cares "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// TestBootstrapDNSResolver: with a DNS address the bootstrap resolves with
// c-ares asking only that address over UDP, names as written; without one
// it leaves Envoy the host's resolvers.
func TestBootstrapDNSResolver(t *testing.T) {
	o := BootstrapOptions{Proxy: Proxy{Type: Sidecar, IP: "127.10.0.1", PodName: "a", Namespace: "ns"}, XDSAddr: "127.0.0.1:15010", AdminAddr: "127.20.0.1:15000"}
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
			Proxy:     Proxy{Type: Sidecar, IP: "127.10.0.1", PodName: "front-end-v1", Namespace: "sock-shop"},
			XDSAddr:   "127.0.0.1:15010",
			AdminAddr: "127.20.0.1:15000",
		},
		"captured": {
			Proxy:          Proxy{Type: Sidecar, IP: "$(POD_IP)", PodName: "$(POD_NAME)", Namespace: "$(POD_NAMESPACE)", Interception: InterceptRedirect},
			ServiceAccount: "$(SERVICE_ACCOUNT)",
			XDSAddr:        "pilotlight.pilotlight-system.svc:15010",
			AdminAddr:      "127.0.0.1:15000",
			HealthPort:     HealthPort,
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
