package translate

import (
	"slices"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/pilotlight/pilotlight/discovery"
)

// The virtual hosts of the sidecars' outbound route tables are kept from
// one mesh to the next (NewMeshFollowing): a VirtualService change makes
// again the virtual hosts of the service it routes, not those of the
// thousand others, which stay the same messages (and so are not checked
// again when marshaled, xds/validate_routes.go).

// vhostKey names a virtual host of an outbound route table: a service
// port, as the route source sees it.
type vhostKey struct {
	service string // discovery.Service.Key()
	port    uint32
	source  string // routeSource.key: the namespace, and the sourceLabels met
}

// madeVirtualHost is a virtual host and the VirtualService it was made
// from (nil: none, the route to the whole service).
type madeVirtualHost struct {
	vs *discovery.VirtualService
	vh *route.VirtualHost
}

// virtualHosts are the virtual hosts one mesh made, by key.
type virtualHosts = carried[vhostKey, madeVirtualHost]

// findVirtualHost is the virtual host earlier made for key from the same
// VirtualService with the same domains, or nil. In a following mesh
// everything else a virtual host is made of (services, DestinationRules)
// is the same.
func findVirtualHost(earlier *virtualHosts, key vhostKey, vs *discovery.VirtualService, domains []string) *route.VirtualHost {
	e, ok := earlier.get(key)
	if !ok || !discovery.SameVirtualService(e.vs, vs) || !slices.Equal(e.vh.GetDomains(), domains) {
		return nil
	}
	return e.vh
}
