package translate

import (
	"slices"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
)

// A proxy's clusters are lists that many proxies share: the passthrough
// clusters of capture mode, a pod's inbound clusters (one list per local
// address and ports), the outbound clusters of its scope, the tracing
// collector's. joinClusters puts two together once, so that proxies of
// the same clusters get the very same list: the xds layer makes a view of
// a list once, not once per proxy (at 2,000 proxies a route change
// copied, hashed and compared 3,001 clusters for each).

// joinKey identifies two lists by their arrays (their first elements).
type joinKey struct {
	a, b   **cluster.Cluster
	na, nb int
}

// joinClusters is a followed by b: for the same two lists, the same list.
// a and b must be shared lists themselves, never changed (the lists of a
// Mesh), and so is what it returns: it is clipped, so that an append
// copies it.
func (m *Mesh) joinClusters(a, b []*cluster.Cluster) []*cluster.Cluster {
	switch {
	case len(a) == 0:
		return slices.Clip(b)
	case len(b) == 0:
		return slices.Clip(a)
	}
	key := joinKey{&a[0], &b[0], len(a), len(b)}
	if v, ok := m.joined.Load(key); ok {
		return v.([]*cluster.Cluster)
	}
	v, _ := m.joined.LoadOrStore(key, slices.Clip(slices.Concat(a, b)))
	return v.([]*cluster.Cluster)
}
