package translate

import (
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/pilotlight/pilotlight/discovery"
)

// connectTimeout is Istio's default (meshConfig.connectTimeout).
const connectTimeout = 10 * time.Second

// buildOutboundClusters makes one EDS cluster per service port, and one per
// DestinationRule subset of it, all fed over ADS.
func (m *Mesh) buildOutboundClusters() []*cluster.Cluster {
	made := &madeClusters{identities: m.serviceIdentities()}
	if e := m.earlierClusters; e != nil && sameIdentities(e.identities, made.identities) {
		// Made of the same services, rules and identities: the same.
		made.clusters = e.clusters
	} else {
		for _, svc := range m.snap.Services {
			for _, port := range svc.Ports {
				made.clusters = append(made.clusters, m.outboundCluster(svc.Hostname, "", port))
				for _, subset := range m.rules.subsets(svc.Hostname) {
					made.clusters = append(made.clusters, m.outboundCluster(svc.Hostname, subset.Name, port))
				}
			}
		}
		sortByName(made.clusters, func(c *cluster.Cluster) string { return c.Name })
	}
	m.madeClusters.Store(made)
	return made.clusters
}

// madeClusters are a mesh's outbound clusters and the service identities
// they were made for (their mTLS subject alt names).
type madeClusters struct {
	clusters   []*cluster.Cluster
	identities map[string][]string
}

// clustersToCarry are the outbound clusters a following mesh may take:
// this mesh's if it made them, else those it was given (an endpoint-only
// change in between makes none).
func (m *Mesh) clustersToCarry() *madeClusters {
	if made := m.madeClusters.Load(); made != nil {
		return made
	}
	return m.earlierClusters
}

// outboundCluster is the cluster outbound|port|subset|host, shaped by the
// traffic policy its DestinationRule gives it (destinationrule.go), and
// mesh mTLS (mtls.go). A gRPC or HTTP/2 port is spoken to in HTTP/2, as
// Istio does.
func (m *Mesh) outboundCluster(host, subset string, port discovery.ServicePort) *cluster.Cluster {
	c := edsCluster(OutboundClusterName(port.Port, subset, host))
	policy := m.rules.clusterPolicy(host, subset, port.Port)
	applyTrafficPolicy(c, policy, isHTTP2(port))
	m.applyMeshTLS(c, host, subset, port.Port, policy, isHTTP2(port))
	m.explain.outboundCluster(c, m.rules, host, subset, port.Port) // explain_cluster.go
	return c
}

// edsCluster is a cluster before any traffic policy: applyTrafficPolicy
// sets its balancing and limits, Istio's defaults included.
func edsCluster(name string) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		// eds_cluster_config.eds_config: endpoints come over the same ADS stream.
		EdsClusterConfig: &cluster.Cluster_EdsClusterConfig{EdsConfig: adsConfigSource()},
		ConnectTimeout:   durationpb.New(connectTimeout),
	}
}

// inboundClusters send what the sidecar accepted to the app on the pod's
// localhost: 127.0.0.1 in a real pod, the annotated address in local mode.
func inboundClusters(pod *discovery.Pod, ports []uint32) []*cluster.Cluster {
	out := make([]*cluster.Cluster, 0, len(ports))
	for _, port := range ports {
		name := InboundClusterName(port)
		out = append(out, &cluster.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
			ConnectTimeout:       durationpb.New(connectTimeout),
			LoadAssignment:       loadAssignment(name, []hostPort{{host: pod.LocalAddress(), port: port}}),
			// Istio's wide-open limits here too: Envoy's defaults would cap
			// a busy pod at 1024 connections from its own sidecar.
			CircuitBreakers: defaultCircuitBreakers(),
		})
	}
	return out
}

func adsConfigSource() *core.ConfigSource {
	return &core.ConfigSource{
		ResourceApiVersion:    core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
	}
}

func durationSeconds(s int64) *durationpb.Duration {
	return durationpb.New(time.Duration(s) * time.Second)
}
