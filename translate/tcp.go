package translate

import (
	"fmt"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// TCP routing: a VirtualService's tcp routes (by port) and tls routes (by
// SNI, the TLS left untouched) become tcp_proxy filters, on sidecars and on
// gateways alike.

// l4Source is the client side an L4 match block is judged against: the
// proxy's namespace and pod labels, and the gateway names it answers to
// ("mesh" for a sidecar).
type l4Source struct {
	namespace string
	labels    map[string]string
	gateways  []string
}

// l4Match is what tcp (L4MatchAttributes) and tls (TLSMatchAttributes)
// match blocks have in common.
type l4Match interface {
	GetPort() uint32
	GetSourceLabels() map[string]string
	GetSourceNamespace() string
	GetGateways() []string
	GetDestinationSubnets() []string
}

// l4MatchApplies follows Istio: match.port, when set, is the port; a block
// that lists gateways applies only to those; sourceLabels and
// sourceNamespace select the client. destinationSubnets cannot be told in
// local mode (the app connects to its localhost), so a block that sets it
// is left out rather than widened.
func l4MatchApplies(m l4Match, port uint32, src l4Source) bool {
	if m.GetPort() != 0 && m.GetPort() != port {
		return false
	}
	if len(m.GetDestinationSubnets()) > 0 {
		return false
	}
	if gws := m.GetGateways(); len(gws) > 0 && !anyIn(gws, src.gateways) {
		return false
	}
	if !hasLabels(src.labels, m.GetSourceLabels()) {
		return false
	}
	return m.GetSourceNamespace() == "" || m.GetSourceNamespace() == src.namespace
}

func anyIn(values, set []string) bool {
	for _, v := range values {
		for _, s := range set {
			if v == s {
				return true
			}
		}
	}
	return false
}

// tcpRouteFor is the first tcp route of vs that applies on port; a route
// without match blocks applies everywhere. nil when none does.
func tcpRouteFor(vs *discovery.VirtualService, port uint32, src l4Source) *networking.TCPRoute {
	for _, r := range vs.Spec.GetTcp() {
		if len(r.GetMatch()) == 0 {
			return r
		}
		for _, m := range r.GetMatch() {
			if l4MatchApplies(m, port, src) {
				return r
			}
		}
	}
	return nil
}

// tcpProxyFilter sends a connection that came to port to route
// destinations: tcp_proxy's cluster for one destination, weighted_clusters
// when traffic is split (route[].weight becomes clusters[].weight).
func tcpProxyFilter(snap *discovery.Snapshot, namespace, statPrefix string, port uint32, dests []*networking.RouteDestination) *listener.Filter {
	weighted := &tcpproxy.TcpProxy_WeightedCluster{}
	for _, d := range dests {
		// tcp_proxy rejects a weight of 0; such a destination gets no
		// traffic anyway. (A single destination needs no weight.)
		if d.GetWeight() == 0 && len(dests) > 1 {
			continue
		}
		weighted.Clusters = append(weighted.Clusters, &tcpproxy.TcpProxy_WeightedCluster_ClusterWeight{
			Name:   destinationCluster(snap, namespace, d.GetDestination(), port),
			Weight: uint32(d.GetWeight()),
		})
	}
	if len(weighted.Clusters) == 1 {
		return tcpProxyTo(statPrefix, weighted.Clusters[0].Name)
	}
	return tcpProxyNetworkFilter(&tcpproxy.TcpProxy{
		StatPrefix:       statPrefix,
		ClusterSpecifier: &tcpproxy.TcpProxy_WeightedClusters{WeightedClusters: weighted},
	})
}

// tcpProxyTo sends every connection to one cluster.
func tcpProxyTo(statPrefix, cluster string) *listener.Filter {
	return tcpProxyNetworkFilter(&tcpproxy.TcpProxy{
		StatPrefix:       statPrefix,
		ClusterSpecifier: &tcpproxy.TcpProxy_Cluster{Cluster: cluster},
	})
}

func tcpProxyNetworkFilter(tp *tcpproxy.TcpProxy) *listener.Filter {
	return &listener.Filter{
		Name:       wellknown.TCPProxy,
		ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(tp)},
	}
}

// sniClaims hands out SNI names to the filter chains of one listener. Envoy
// rejects a listener where two chains match the same server name (or two
// match none), so the first chain to ask for a name gets it, and a later
// one keeps only what is left.
type sniClaims struct {
	names    map[string]bool
	catchAll bool
}

func newSNIClaims() *sniClaims { return &sniClaims{names: map[string]bool{}} }

// claim returns the names not taken yet, in order, and takes them.
func (c *sniClaims) claim(names []string) []string {
	var out []string
	for _, n := range names {
		if !c.names[n] {
			c.names[n] = true
			out = append(out, n)
		}
	}
	return out
}

// match is the filter_chain_match of a chain for these SNI names, from
// what is left of them; ok is false when nothing is. "*" asks for the
// catch-all chain (no server_names), which also takes non-TLS clients.
func (c *sniClaims) match(names []string) (m *listener.FilterChainMatch, ok bool) {
	for _, n := range names {
		if n == "*" {
			return nil, c.claimCatchAll()
		}
	}
	left := c.claim(names)
	return sniMatch(left), len(left) > 0
}

// claimCatchAll takes the one chain without server_names, if it is free.
func (c *sniClaims) claimCatchAll() bool {
	if c.catchAll {
		return false
	}
	c.catchAll = true
	return true
}

// l4ChainName names a filter chain built from a match block of a tcp or
// tls route: names must be unique within a listener.
func l4ChainName(vs *discovery.VirtualService, kind string, route, match int) string {
	return fmt.Sprintf("%s.%s.%s[%d].match[%d]", vs.Name, vs.Namespace, kind, route, match)
}
