package translate

import (
	"strconv"
	"strings"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// defaultRingSize is Envoy's own minimum_ring_size default, which Istio
// writes out when a rule asks for consistent hashing without a ring size.
const defaultRingSize = 1024

// applyLoadBalancer: loadBalancer → lb_policy (and lb_config), as Istio's
// applyLoadBalancer does.
func applyLoadBalancer(c *cluster.Cluster, lb *networking.LoadBalancerSettings) {
	switch lb.GetSimple() {
	case networking.LoadBalancerSettings_ROUND_ROBIN:
		c.LbPolicy = cluster.Cluster_ROUND_ROBIN
	case networking.LoadBalancerSettings_RANDOM:
		c.LbPolicy = cluster.Cluster_RANDOM
	case networking.LoadBalancerSettings_PASSTHROUGH:
		passthrough(c)
	default:
		// UNSPECIFIED, LEAST_REQUEST and the deprecated LEAST_CONN: Istio's
		// default is LEAST_REQUEST (power of two choices), not Envoy's
		// ROUND_ROBIN.
		c.LbPolicy = cluster.Cluster_LEAST_REQUEST
	}
	if ch := lb.GetConsistentHash(); ch != nil {
		applyConsistentHash(c, ch)
	}
}

// passthrough: simple PASSTHROUGH → an ORIGINAL_DST cluster (lb_policy
// CLUSTER_PROVIDED), which connects to the address the caller connected
// to, bypassing Envoy's balancing. It has no endpoints, so no EDS. This
// needs traffic capture: a local-mode app connects to its sidecar's proxy
// port, which is no address to pass traffic through to.
func passthrough(c *cluster.Cluster) {
	c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST}
	c.LbPolicy = cluster.Cluster_CLUSTER_PROVIDED
	c.EdsClusterConfig = nil
}

// isPassthrough reports whether a cluster with this policy is ORIGINAL_DST.
func isPassthrough(p *networking.TrafficPolicy) bool {
	return p.GetLoadBalancer().GetSimple() == networking.LoadBalancerSettings_PASSTHROUGH
}

// applyConsistentHash: consistentHash.maglev → MAGLEV with
// maglev_lb_config.table_size; ringHash (or neither) → RING_HASH with
// ring_hash_lb_config.minimum_ring_size. What to hash is said on the route:
// see hashPolicy.
func applyConsistentHash(c *cluster.Cluster, ch *networking.LoadBalancerSettings_ConsistentHashLB) {
	if maglev := ch.GetMaglev(); maglev != nil {
		c.LbPolicy = cluster.Cluster_MAGLEV
		if maglev.GetTableSize() != 0 {
			c.LbConfig = &cluster.Cluster_MaglevLbConfig_{MaglevLbConfig: &cluster.Cluster_MaglevLbConfig{
				TableSize: wrapperspb.UInt64(maglev.GetTableSize()),
			}}
		}
		return
	}
	c.LbPolicy = cluster.Cluster_RING_HASH
	size := ch.GetRingHash().GetMinimumRingSize()
	if ch.GetRingHash() == nil {
		size = ch.GetMinimumRingSize() //nolint:staticcheck // the deprecated field, as Istio still reads it
		if size == 0 {
			size = defaultRingSize
		}
	}
	if size != 0 {
		c.LbConfig = &cluster.Cluster_RingHashLbConfig_{RingHashLbConfig: &cluster.Cluster_RingHashLbConfig{
			MinimumRingSize: wrapperspb.UInt64(size),
		}}
	}
}

// hashPolicy: the hash key of consistentHash → one RouteAction.hash_policy
// (nil when the rule names none, and Envoy hashes nothing: random picks).
//   - httpHeaderName → header.header_name
//   - httpCookie → cookie (name, path, ttl, attributes); with a ttl Envoy
//     sets the cookie when the request has none
//   - useSourceIp → connection_properties.source_ip
//   - httpQueryParameterName → query_parameter.name
func hashPolicy(ch *networking.LoadBalancerSettings_ConsistentHashLB) *route.RouteAction_HashPolicy {
	switch key := ch.GetHashKey().(type) {
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName:
		return &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_Header_{
			Header: &route.RouteAction_HashPolicy_Header{HeaderName: key.HttpHeaderName},
		}}
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpCookie:
		return &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_Cookie_{
			Cookie: cookieHash(key.HttpCookie),
		}}
	case *networking.LoadBalancerSettings_ConsistentHashLB_UseSourceIp:
		return &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &route.RouteAction_HashPolicy_ConnectionProperties{SourceIp: key.UseSourceIp},
		}}
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpQueryParameterName:
		return &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_QueryParameter_{
			QueryParameter: &route.RouteAction_HashPolicy_QueryParameter{Name: key.HttpQueryParameterName},
		}}
	}
	return nil
}

func cookieHash(c *networking.LoadBalancerSettings_ConsistentHashLB_HTTPCookie) *route.RouteAction_HashPolicy_Cookie {
	out := &route.RouteAction_HashPolicy_Cookie{Name: c.GetName(), Path: c.GetPath(), Ttl: c.GetTtl()}
	for _, a := range c.GetAttributes() {
		out.Attributes = append(out.Attributes, &route.RouteAction_HashPolicy_CookieAttribute{Name: a.GetName(), Value: a.GetValue()})
	}
	return out
}

// addHashPolicies sets RouteAction.hash_policy on every route of rc that
// sends to a cluster with consistent hashing: the cluster's ring (or
// Maglev table) picks the host, the route says what to hash. Working on the
// built route table covers VirtualService routes and default routes alike.
// Like Istio, a route splitting traffic gets one policy per hashing
// destination, in destination order.
func addHashPolicies(rc *route.RouteConfiguration, r *rules) {
	for _, vh := range rc.GetVirtualHosts() {
		addVirtualHostHashPolicies(vh, r)
	}
}

// addVirtualHostHashPolicies is addHashPolicies for one virtual host.
func addVirtualHostHashPolicies(vh *route.VirtualHost, r *rules) {
	if len(r.destinationRules) == 0 {
		return
	}
	for _, rt := range vh.GetRoutes() {
		if a := rt.GetRoute(); a != nil {
			a.HashPolicy = r.hashPolicies(a) // an action may be shared by routes: set, never append
		}
	}
}

func (r *rules) hashPolicies(a *route.RouteAction) []*route.RouteAction_HashPolicy {
	var out []*route.RouteAction_HashPolicy
	if name := a.GetCluster(); name != "" {
		if hp := r.hashPolicyFor(name); hp != nil {
			out = append(out, hp)
		}
	}
	for _, w := range a.GetWeightedClusters().GetClusters() {
		if hp := r.hashPolicyFor(w.GetName()); hp != nil {
			out = append(out, hp)
		}
	}
	return out
}

// hashPolicyFor is the hash policy of routes to one outbound cluster: the
// hash key of the same merged policy (rule, subset, port) that shaped the
// cluster, so a route hashes exactly when its cluster balances by hash.
func (r *rules) hashPolicyFor(clusterName string) *route.RouteAction_HashPolicy {
	port, subset, host, ok := parseOutboundClusterName(clusterName)
	if !ok || r.destinationRules[host] == nil {
		return nil
	}
	return hashPolicy(r.clusterPolicy(host, subset, port).GetLoadBalancer().GetConsistentHash())
}

// parseOutboundClusterName reads outbound|PORT|SUBSET|HOST back.
func parseOutboundClusterName(name string) (port uint32, subset, host string, ok bool) {
	direction, rest, _ := strings.Cut(name, "|")
	portText, rest, _ := strings.Cut(rest, "|")
	subset, host, found := strings.Cut(rest, "|")
	n, err := strconv.ParseUint(portText, 10, 32)
	if direction != "outbound" || !found || err != nil {
		return 0, "", "", false
	}
	return uint32(n), subset, host, true
}
