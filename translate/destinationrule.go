package translate

// DestinationRule traffic policies: which policy applies to one outbound
// cluster, and how it shapes the cluster. Each part of a policy has a file
// of its own:
//
//	loadBalancer      destinationrule_lb.go       lb_policy, lb_config; route hash_policy
//	connectionPool    destinationrule_pool.go     circuit_breakers, HTTP protocol options, tcp_keepalive
//	outlierDetection  destinationrule_outlier.go  outlier_detection, healthy_panic_threshold
//	tls               destinationrule_tls.go      transport_socket (UpstreamTlsContext)

import (
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	networking "istio.io/api/networking/v1"
)

// clusterPolicy is the traffic policy of the cluster outbound|port|subset|host,
// nil when no DestinationRule gives one.
func (r *rules) clusterPolicy(host, subset string, port uint32) *networking.TrafficPolicy {
	dr := r.destinationRules[host]
	if dr == nil {
		return nil
	}
	policy := dr.Spec.GetTrafficPolicy()
	if subset == "" {
		return policyForPort(policy, port)
	}
	return mergeSubsetPolicy(policy, findSubset(dr.Spec, subset).GetTrafficPolicy(), port)
}

// mergeSubsetPolicy follows Istio's MergeSubsetTrafficPolicy: start from the
// rule's policy for the port; each of loadBalancer, connectionPool,
// outlierDetection and tls that the subset sets replaces the rule's whole
// part (there is no field-by-field merge); and when the subset has
// portLevelSettings for the port, they replace all four parts.
func mergeSubsetPolicy(top, sub *networking.TrafficPolicy, port uint32) *networking.TrafficPolicy {
	merged := policyForPort(top, port)
	if sub == nil {
		return merged
	}
	sub, subPortLevel := portPolicy(sub, port)
	if merged == nil {
		return sub
	}
	merged = shallowCopy(merged)
	if sub.LoadBalancer != nil || subPortLevel {
		merged.LoadBalancer = sub.LoadBalancer
	}
	if sub.ConnectionPool != nil || subPortLevel {
		merged.ConnectionPool = sub.ConnectionPool
	}
	if sub.OutlierDetection != nil || subPortLevel {
		merged.OutlierDetection = sub.OutlierDetection
	}
	if sub.Tls != nil || subPortLevel {
		merged.Tls = sub.Tls
	}
	return merged
}

// policyForPort is the policy that applies to one port: the matching
// portLevelSettings entry when there is one, else the policy itself.
func policyForPort(p *networking.TrafficPolicy, port uint32) *networking.TrafficPolicy {
	out, _ := portPolicy(p, port)
	return out
}

// portPolicy returns the portLevelSettings entry for port as a policy, and
// true; or p itself and false. Istio (and its docs): port-level settings do
// not inherit from the top level, fields they leave out get the defaults.
func portPolicy(p *networking.TrafficPolicy, port uint32) (*networking.TrafficPolicy, bool) {
	for _, pl := range p.GetPortLevelSettings() {
		if pl.GetPort().GetNumber() == port {
			return &networking.TrafficPolicy{
				LoadBalancer:     pl.LoadBalancer,
				ConnectionPool:   pl.ConnectionPool,
				OutlierDetection: pl.OutlierDetection,
				Tls:              pl.Tls,
			}, true
		}
	}
	return p, false
}

// shallowCopy copies the four parts a cluster uses (portLevelSettings have
// been resolved already), so merging never writes into the snapshot.
func shallowCopy(p *networking.TrafficPolicy) *networking.TrafficPolicy {
	return &networking.TrafficPolicy{
		LoadBalancer:     p.LoadBalancer,
		ConnectionPool:   p.ConnectionPool,
		OutlierDetection: p.OutlierDetection,
		Tls:              p.Tls,
	}
}

func findSubset(dr *networking.DestinationRule, name string) *networking.Subset {
	for _, s := range dr.GetSubsets() {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}

// applyTrafficPolicy shapes an outbound cluster by its traffic policy, as
// Istio's applyTrafficPolicy does. A nil policy still gets Istio's defaults:
// circuit breakers wide open and least-request balancing. http2: the
// upstream speaks HTTP/2 (a gRPC port).
func applyTrafficPolicy(c *cluster.Cluster, p *networking.TrafficPolicy, http2 bool) {
	httpOptions := &upstreamhttp.HttpProtocolOptions{}
	applyConnectionPool(c, httpOptions, p.GetConnectionPool())
	applyOutlierDetection(c, p.GetOutlierDetection())
	applyLoadBalancer(c, p.GetLoadBalancer())
	applyTLS(c, httpOptions, p.GetTls())
	setHTTPProtocolOptions(c, httpOptions, http2)
}
