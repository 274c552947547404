package xds

import (
	"fmt"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Route tables are checked a virtual host at a time, and a virtual host
// checked before (the same message: translate keeps those no change
// touched, translate/virtualhost_reuse.go) is not checked again. A
// VirtualService change then checks the one virtual host it changed in
// each table, not a thousand per table.

// vhostChecks are the results of checking virtual hosts, by message.
type vhostChecks map[*route.VirtualHost]error

// validateRouteConfiguration is validate for a route table: the table
// without its virtual hosts, each virtual host (found in checked or
// earlier, else checked; recorded in checked), then the domains across
// them. The proto constraints of RouteConfiguration put none on the list
// of virtual hosts itself, only on each one, so this checks what
// validate would.
func validateRouteConfiguration(rc *route.RouteConfiguration, seen anyCache, checked vhostChecks, earlier ...vhostChecks) error {
	top := withoutVirtualHosts(rc)
	if err := validateAll(top); err != nil {
		return err
	}
	if err := validateAnys(top.ProtoReflect(), nil, seen); err != nil {
		return err
	}
	for i, vh := range rc.GetVirtualHosts() {
		err, ok := checked[vh]
		for _, e := range earlier {
			if ok {
				break
			}
			err, ok = e[vh]
		}
		if !ok {
			err = validateVirtualHost(vh, seen)
		}
		checked[vh] = err
		if err != nil {
			// As protoc-gen-validate words it for the whole table.
			return fmt.Errorf("invalid RouteConfiguration.VirtualHosts[%d]: embedded message failed validation | caused by: %w", i, err)
		}
	}
	return checkDomains(rc)
}

func validateVirtualHost(vh *route.VirtualHost, seen anyCache) error {
	if err := validateAll(vh); err != nil {
		return err
	}
	return validateAnys(vh.ProtoReflect(), nil, seen)
}

// withoutVirtualHosts is rc's fields but virtual_hosts, sharing them
// (read only).
func withoutVirtualHosts(rc *route.RouteConfiguration) *route.RouteConfiguration {
	top := &route.RouteConfiguration{}
	dst := top.ProtoReflect()
	vhosts := dst.Descriptor().Fields().ByName("virtual_hosts")
	rc.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd != vhosts {
			dst.Set(fd, v)
		}
		return true
	})
	return top
}
