package translate

import (
	rbacpb "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	security "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

// Conditions: a rule's when block. Each condition goes to the side of the
// policy Envoy can test it on, as in Istio: the destination's attributes
// are permissions, everything about the client is a principal.
//
//	request.headers[NAME]        → principal header NAME
//	source.ip                    → direct_remote_ip
//	remote.ip                    → remote_ip
//	source.namespace             → as from.source.namespaces
//	source.principal             → as from.source.principals
//	source.serviceAccount        → as from.source.serviceAccounts
//	request.auth.principal       → as from.source.requestPrincipals
//	request.auth.audiences       → JWT claim aud
//	request.auth.presenter       → JWT claim azp
//	request.auth.claims[a][b]    → JWT claim a.b
//	destination.ip               → destination_ip
//	destination.port             → destination_port
//	connection.sni               → requested_server_name

// conditionFields splits when conditions into permission and principal
// fields, in their order. Validation has checked the keys.
func conditionFields(policyNamespace string, when []*security.Condition) (permissions []field[*rbacpb.Permission], principals []field[*rbacpb.Principal]) {
	for _, c := range when {
		key, err := discovery.ParseConditionKey(c.GetKey())
		if err != nil {
			continue
		}
		values, notValues := c.GetValues(), c.GetNotValues()
		perm := func(each func(string) *rbacpb.Permission) {
			permissions = append(permissions, field[*rbacpb.Permission]{values: values, notValues: notValues, each: each})
		}
		prin := field[*rbacpb.Principal]{values: values, notValues: notValues, httpOnly: discovery.HTTPOnlyAttribute(key.Attribute)}
		switch key.Attribute {
		case discovery.AttrDestinationIP:
			perm(destinationIPPermission)
			continue
		case discovery.AttrDestinationPort:
			perm(portPermission)
			continue
		case discovery.AttrSNI:
			perm(sniPermission)
			continue
		case discovery.AttrRequestHeaders:
			prin.each = headerPrincipal(key.Names[0])
		case discovery.AttrSourceIP:
			prin.each = directIPPrincipal
		case discovery.AttrRemoteIP:
			prin.each = remoteIPPrincipal
		case discovery.AttrSourceNamespace:
			prin.each = namespacePrincipal
		case discovery.AttrSourcePrincipal:
			prin.each = spiffePrincipal
		case discovery.AttrSourceSA:
			prin.each = func(v string) *rbacpb.Principal { return serviceAccountPrincipal(policyNamespace, v) }
		case discovery.AttrRequestPrincipal:
			prin.all = requestPrincipals
		case discovery.AttrAudiences:
			prin.all = claimsPrincipal("aud")
		case discovery.AttrPresenter:
			prin.all = claimsPrincipal("azp")
		case discovery.AttrClaims:
			prin.all = claimsPrincipal(key.Names...)
		default:
			continue
		}
		principals = append(principals, prin)
	}
	return permissions, principals
}
