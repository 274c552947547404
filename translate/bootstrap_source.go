package translate

import (
	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// addSourceAddress makes every upstream connection of the proxy leave from
// o.SourceAddress (cluster_manager.upstream_bind_config). In local mode
// that is the pod IP: on loopback the kernel would otherwise pick
// 127.0.0.1, and the server side could not tell which pod called it, as it
// can in a cluster (Istio's destination-side telemetry reads the peer's
// address).
func addSourceAddress(b *bootstrap.Bootstrap, o BootstrapOptions) {
	if o.SourceAddress == "" {
		return
	}
	b.ClusterManager = &bootstrap.ClusterManager{UpstreamBindConfig: &core.BindConfig{
		SourceAddress: &core.SocketAddress{Address: o.SourceAddress, PortSpecifier: &core.SocketAddress_PortValue{PortValue: 0}},
	}}
}
