package discovery

import (
	"maps"
	"reflect"
	"slices"

	"google.golang.org/protobuf/proto"
)

// SameConfig reports whether two snapshots hold the same services, Istio
// rules, rate-limit policies and TLS secrets, so that they can differ only in endpoints and pods.
// Pods matter to config only for the proxy of that pod (its inbound side,
// a gateway's selection): compare those one by one with SamePod.
func SameConfig(a, b *Snapshot) bool {
	return SameConfigButVirtualServices(a, b) && SameVirtualServices(a, b)
}

// SameConfigButVirtualServices is SameConfig but for VirtualServices: what
// routes traffic may differ, what clusters and load assignments are made
// of may not (a weight shift of a canary).
func SameConfigButVirtualServices(a, b *Snapshot) bool {
	return reflect.DeepEqual(a.Services, b.Services) &&
		sameRules(a.DestinationRules, b.DestinationRules, func(d *DestinationRule) (Meta, proto.Message) { return d.Meta, d.Spec }) &&
		sameRules(a.Gateways, b.Gateways, func(g *Gateway) (Meta, proto.Message) { return g.Meta, g.Spec }) &&
		sameRules(a.PeerAuthentications, b.PeerAuthentications, func(p *PeerAuthentication) (Meta, proto.Message) { return p.Meta, p.Spec }) &&
		sameRules(a.Sidecars, b.Sidecars, func(sc *Sidecar) (Meta, proto.Message) { return sc.Meta, sc.Spec }) &&
		sameRules(a.EnvoyFilters, b.EnvoyFilters, func(f *EnvoyFilter) (Meta, proto.Message) { return f.Meta, f.Spec }) &&
		reflect.DeepEqual(a.RateLimitPolicies, b.RateLimitPolicies) &&
		sameRules(a.Telemetries, b.Telemetries, func(t *Telemetry) (Meta, proto.Message) { return t.Meta, t.Spec }) &&
		// A gateway's listeners and SDS secrets follow its certificates.
		reflect.DeepEqual(a.Secrets, b.Secrets) &&
		sameSecurity(a, b)
}

// SameVirtualServices reports whether two snapshots hold the same
// VirtualServices.
func SameVirtualServices(a, b *Snapshot) bool {
	return slices.EqualFunc(a.VirtualServices, b.VirtualServices, SameVirtualService)
}

// SameVirtualService reports whether two VirtualServices (either may be
// nil: none) are the same object or equal, as sameRules compares rules.
func SameVirtualService(a, b *VirtualService) bool {
	return a == b || (a != nil && b != nil && reflect.DeepEqual(a.Meta, b.Meta) && proto.Equal(a.Spec, b.Spec))
}

// sameSecurity compares the security kinds and what they depend on: the
// root namespace and the fetched JWT key sets.
func sameSecurity(a, b *Snapshot) bool {
	return a.Root() == b.Root() && reflect.DeepEqual(a.JWKS, b.JWKS) &&
		sameRules(a.AuthorizationPolicies, b.AuthorizationPolicies, func(p *AuthorizationPolicy) (Meta, proto.Message) { return p.Meta, p.Spec }) &&
		sameRules(a.RequestAuthentications, b.RequestAuthentications, func(r *RequestAuthentication) (Meta, proto.Message) { return r.Meta, r.Spec })
}

// SamePod reports whether a pod is unchanged but for readiness, which only
// affects the endpoints other proxies see.
func SamePod(a, b *Pod) bool {
	if a == nil || b == nil || a == b {
		return a == b
	}
	x, y := *a, *b
	x.Ready, y.Ready = false, false
	return reflect.DeepEqual(x, y)
}

// SameEndpoints reports whether two lists of a service's endpoints are
// equal, field by field (what reflect.DeepEqual says, at a fraction of its
// cost: a mesh of ten thousand endpoints compares them all on every
// endpoint change).
func SameEndpoints(a, b []*Endpoint) bool {
	return slices.EqualFunc(a, b, func(x, y *Endpoint) bool {
		return x == y || (x != nil && y != nil && x.Address == y.Address && x.PodName == y.PodName && x.Ready == y.Ready &&
			maps.Equal(x.Ports, y.Ports) && maps.Equal(x.Labels, y.Labels))
	})
}

func sameRules[T any](a, b []T, parts func(T) (Meta, proto.Message)) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ma, sa := parts(a[i])
		mb, sb := parts(b[i])
		if !reflect.DeepEqual(ma, mb) || !proto.Equal(sa, sb) {
			return false
		}
	}
	return true
}
