package translate

import (
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The clusters a captured sidecar needs beyond the mesh's: where a
// connection goes when no service claims its destination. Istio's names.
const (
	// PassthroughCluster forwards to the original destination
	// (outboundTrafficPolicy ALLOW_ANY).
	PassthroughCluster = "PassthroughCluster"
	// BlackHoleCluster has no endpoints: connections to it fail
	// (REGISTRY_ONLY, and loops back into the sidecar's own ports).
	BlackHoleCluster = "BlackHoleCluster"
	// InboundPassthroughCluster hands inbound traffic for a port no
	// service targets to the app at its original destination.
	InboundPassthroughCluster = "InboundPassthroughCluster"
)

// InboundPassthroughSource is the source address of the sidecar's inbound
// passthrough connections. The capture rules let it through (`oifname lo
// ip saddr 127.0.0.6 return`): without that, the sidecar's own connection
// to the pod IP would be redirected to 15006 again.
const InboundPassthroughSource = "127.0.0.6"

// passthroughClusters are BlackHoleCluster, InboundPassthroughCluster and
// PassthroughCluster, in name order. They are the same for every captured
// sidecar, so a Mesh builds them once.
func passthroughClusters() []*cluster.Cluster {
	blackHole := &cluster.Cluster{
		Name:                 BlackHoleCluster,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(connectTimeout),
	}
	inbound := originalDstCluster(InboundPassthroughCluster)
	// upstream_bind_config.source_address: see InboundPassthroughSource.
	inbound.UpstreamBindConfig = &core.BindConfig{SourceAddress: &core.SocketAddress{
		Address:       InboundPassthroughSource,
		PortSpecifier: &core.SocketAddress_PortValue{PortValue: 0},
	}}
	return []*cluster.Cluster{blackHole, inbound, originalDstCluster(PassthroughCluster)}
}

// originalDstCluster connects to the address the client dialed (type
// ORIGINAL_DST, lb_policy CLUSTER_PROVIDED), with Istio's open limits.
func originalDstCluster(name string) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST},
		LbPolicy:             cluster.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(connectTimeout),
		CircuitBreakers:      defaultCircuitBreakers(),
	}
}
