package translate

import (
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacpb "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	uritemplate "github.com/envoyproxy/go-control-plane/envoy/extensions/path/match/uri_template/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	security "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

// Permissions: what a request asks for (to.operation, and the when
// conditions on the destination), as Envoy RBAC Permissions:
//
//	hosts               → header :authority (case-insensitive)
//	methods             → header :method
//	paths               → url_path (exact, /x/* prefix, */x suffix, * any);
//	                      {*} and {**} templates → uri_template
//	ports               → destination_port
//	destination.ip      → destination_ip
//	destination.port    → destination_port
//	connection.sni      → requested_server_name
//	notX                → not_rule over the OR of X

var permissionLogic = logic[*rbacpb.Permission]{
	and: func(ps []*rbacpb.Permission) *rbacpb.Permission {
		return &rbacpb.Permission{Rule: &rbacpb.Permission_AndRules{AndRules: &rbacpb.Permission_Set{Rules: ps}}}
	},
	or: func(ps []*rbacpb.Permission) *rbacpb.Permission {
		return &rbacpb.Permission{Rule: &rbacpb.Permission_OrRules{OrRules: &rbacpb.Permission_Set{Rules: ps}}}
	},
	not: permissionNot,
	any: permissionAny,
}

func permissionAny() *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_Any{Any: true}}
}

func permissionNot(p *rbacpb.Permission) *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_NotRule{NotRule: p}}
}

// operationFields are the fields of a to.operation, in Istio's order.
func operationFields(o *security.Operation) []field[*rbacpb.Permission] {
	if o == nil {
		return nil
	}
	return []field[*rbacpb.Permission]{
		{values: o.Hosts, notValues: o.NotHosts, httpOnly: true, each: hostPermission},
		{values: o.Methods, notValues: o.NotMethods, httpOnly: true, each: methodPermission},
		{values: o.Paths, notValues: o.NotPaths, httpOnly: true, each: pathPermission},
		{values: o.Ports, notValues: o.NotPorts, each: portPermission},
	}
}

func headerPermission(name, v string, ignoreCase bool) *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_Header{Header: headerMatch(name, v, ignoreCase)}}
}

func hostPermission(v string) *rbacpb.Permission { return headerPermission(":authority", v, true) }

func methodPermission(v string) *rbacpb.Permission { return headerPermission(":method", v, false) }

// pathPermission matches the request's path without its query.
func pathPermission(v string) *rbacpb.Permission {
	if discovery.IsPathTemplate(v) {
		// Istio's {*} and {**} are Envoy's uri_template * and **.
		template := strings.NewReplacer("{**}", "**", "{*}", "*").Replace(v)
		return &rbacpb.Permission{Rule: &rbacpb.Permission_UriTemplate{UriTemplate: &core.TypedExtensionConfig{
			Name:        "uri-template",
			TypedConfig: mustAny(&uritemplate.UriTemplateMatchConfig{PathTemplate: template}),
		}}}
	}
	return &rbacpb.Permission{Rule: &rbacpb.Permission_UrlPath{UrlPath: &matcher.PathMatcher{
		Rule: &matcher.PathMatcher_Path{Path: stringMatch(v, "")},
	}}}
}

// portPermission: validation has checked the port.
func portPermission(v string) *rbacpb.Permission {
	port, _ := discovery.ParsePort(v)
	return &rbacpb.Permission{Rule: &rbacpb.Permission_DestinationPort{DestinationPort: port}}
}

func destinationIPPermission(v string) *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_DestinationIp{DestinationIp: cidrRange(v)}}
}

func sniPermission(v string) *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_RequestedServerName{RequestedServerName: stringMatch(v, "")}}
}
