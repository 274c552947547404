package translate

import (
	meshconfig "istio.io/api/mesh/v1alpha1"
)

// Option configures a Mesh beyond its snapshot.
type Option func(*Mesh)

// WithMeshConfig applies Istio's mesh-wide settings. Only
// outboundTrafficPolicy is read so far (`serve --mesh-config` reports the
// fields it ignores). nil keeps Istio's defaults.
func WithMeshConfig(mc *meshconfig.MeshConfig) Option {
	return func(m *Mesh) {
		if mc.GetOutboundTrafficPolicy() != nil {
			m.registryOnly = mc.GetOutboundTrafficPolicy().GetMode() == meshconfig.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY
		}
	}
}

// DefaultMeshConfig is Istio's default for what pilotlight reads: traffic
// to destinations outside the mesh passes through (ALLOW_ANY).
func DefaultMeshConfig() *meshconfig.MeshConfig {
	return &meshconfig.MeshConfig{OutboundTrafficPolicy: &meshconfig.MeshConfig_OutboundTrafficPolicy{
		Mode: meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY,
	}}
}

// fallbackCluster is where a captured sidecar sends a connection no
// service claims: PassthroughCluster, or BlackHoleCluster when the mesh
// allows only registered destinations (outboundTrafficPolicy.mode
// REGISTRY_ONLY).
func (m *Mesh) fallbackCluster() string {
	if m.registryOnly {
		return BlackHoleCluster
	}
	return PassthroughCluster
}
