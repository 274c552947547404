package translate

import (
	"testing"

	cares "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
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
