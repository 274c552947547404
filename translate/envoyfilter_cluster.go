package translate

import (
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
)

// CLUSTER patches: REMOVE and MERGE on the clusters they match, then ADD.

// removedCluster is a cluster a REMOVE patch took out of the view.
type removedCluster struct {
	patch   *envoyFilterPatch
	cluster *cluster.Cluster
}

// patchClusters patches res.Clusters and returns what REMOVEs took out.
func (r *patchRun) patchClusters(res *Resources) []removedCluster {
	var removed []removedCluster
	out := make([]*cluster.Cluster, 0, len(res.Clusters))
	r.clusters = map[string]bool{}
	for _, c := range res.Clusters {
		ctx := r.env.clusterContext(c)
		keep := true
		for _, p := range r.patches {
			if p.applyTo != networking.EnvoyFilter_CLUSTER || !contextMatches(p, ctx) || !r.env.clusterMatches(p, c) {
				continue
			}
			switch p.op {
			case networking.EnvoyFilter_Patch_REMOVE:
				r.results[p.key()].Matched = true
				removed = append(removed, removedCluster{p, c})
				keep = false
			case networking.EnvoyFilter_Patch_MERGE:
				c = try(r, p, c, "cluster "+c.Name, func(c *cluster.Cluster) (bool, error) {
					mergeInto(c, p.value)
					return true, nil
				}, checkCluster)
			}
			if !keep {
				break
			}
		}
		if keep {
			out = append(out, c)
			r.clusters[c.Name] = true
		}
	}
	for _, p := range r.patches {
		if p.applyTo != networking.EnvoyFilter_CLUSTER || p.op != networking.EnvoyFilter_Patch_ADD || !r.addsClusterHere(p) {
			continue
		}
		c := proto.Clone(p.value).(*cluster.Cluster)
		res := r.results[p.key()]
		err := checkCluster(c)
		if err == nil && r.clusters[c.Name] {
			err = fmt.Errorf("the proxy has a cluster %s already", c.Name)
		}
		if err != nil {
			res.Rejected = append(res.Rejected, fmt.Sprintf("cluster %s: %v", c.Name, err))
			continue
		}
		res.Matched = true
		out = append(out, c)
		r.clusters[c.Name] = true
	}
	sortByName(out, func(c *cluster.Cluster) string { return c.Name })
	res.Clusters = out
	return removed
}

// addsClusterHere: Istio adds a cluster (match.cluster is not looked at)
// when building a gateway's clusters or a sidecar's outbound ones (context
// ANY, GATEWAY, SIDECAR_OUTBOUND) or a sidecar's inbound ones
// (SIDECAR_INBOUND).
func (r *patchRun) addsClusterHere(p *envoyFilterPatch) bool {
	switch p.match.Context {
	case networking.EnvoyFilter_ANY:
		return true
	case networking.EnvoyFilter_GATEWAY:
		return r.env.gateway
	}
	return !r.env.gateway
}

// keepReferencedClusters puts back the clusters a REMOVE took out that a
// listener's inline route table still sends to: Envoy would reject the
// listener next time it changes.
func (r *patchRun) keepReferencedClusters(res *Resources, removed []removedCluster) {
	if len(removed) == 0 {
		return
	}
	used := listenerRouteClusters(res.Listeners)
	putBack := false
	for _, rc := range removed {
		if by, ok := used[rc.cluster.Name]; ok {
			pr := r.results[rc.patch.key()]
			pr.Rejected = append(pr.Rejected, fmt.Sprintf("cluster %s: listener %s routes to it", rc.cluster.Name, by))
			res.Clusters = append(res.Clusters, rc.cluster)
			r.clusters[rc.cluster.Name] = true
			putBack = true
		}
	}
	if putBack {
		sortByName(res.Clusters, func(c *cluster.Cluster) string { return c.Name })
	}
}
