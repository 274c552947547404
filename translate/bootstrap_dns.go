package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cares "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
)

// dnsResolver is the bootstrap's typed_dns_resolver_config when the
// control plane answers the mesh's names (BootstrapOptions.DNSAddr, the
// meshdns package): c-ares asking only it, over UDP, for names as written
// (no_default_search_domain: the host's search list would turn
// "ratelimit.rate-limit.svc.cluster.local" into other questions first).
// Clusters without a resolver of their own (STRICT_DNS, LOGICAL_DNS)
// use it.
func dnsResolver(host string, port uint32) *core.TypedExtensionConfig {
	addr := socketAddress(host, port)
	addr.GetSocketAddress().Protocol = core.SocketAddress_UDP
	return &core.TypedExtensionConfig{
		Name: "envoy.network.dns_resolver.cares",
		TypedConfig: mustAny(&cares.CaresDnsResolverConfig{
			Resolvers:          []*core.Address{addr},
			DnsResolverOptions: &core.DnsResolverOptions{NoDefaultSearchDomain: true},
		}),
	}
}
