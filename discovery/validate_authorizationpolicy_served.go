package discovery

import (
	"fmt"
	"sort"
	"strings"

	security "istio.io/api/security/v1beta1"
)

// CheckAuthorizationPolicies reports what valid policies do differently
// from what they say, as Istio does (in its logs and analyzers). The
// policies stay served:
//   - action CUSTOM: pilotlight has no ext_authz provider; the requests the
//     policy's rules match are denied, as Istio does when a CUSTOM
//     provider is not usable.
//   - HTTP-only fields (paths, methods, hosts, requestPrincipals,
//     request.headers and request.auth.* conditions) in a policy that
//     applies to a TCP port (a workload's, or a gateway's TCP or TLS
//     passthrough server): there an ALLOW rule is left out (it allows
//     nothing), and a DENY or AUDIT rule ignores them (it matches more).
func CheckAuthorizationPolicies(s *Snapshot) []Problem {
	var problems []Problem
	for _, ap := range s.AuthorizationPolicies {
		p := newProblemList("AuthorizationPolicy", ap.Meta)
		if ap.Spec.GetAction() == security.AuthorizationPolicy_CUSTOM {
			p.add("spec.action", "action CUSTOM (provider %q) is not supported: the requests its rules match are denied (403), as Istio does when a provider is not usable", ap.Spec.GetProvider().GetName())
		}
		if ports := tcpPortsOf(s, ap); len(ports) > 0 {
			for i, rule := range ap.Spec.GetRules() {
				if fields := HTTPOnlyFields(rule); len(fields) > 0 {
					p.add(fieldIndex("spec.rules", i), "%s only apply to HTTP, and the policy applies to TCP port %s: %s",
						strings.Join(fields, ", "), strings.Join(ports, ", "), tcpEffect(ap.Spec.GetAction()))
				}
			}
		}
		problems = append(problems, p.list...)
	}
	return problems
}

func tcpEffect(action security.AuthorizationPolicy_Action) string {
	if action == security.AuthorizationPolicy_ALLOW {
		return "there the rule is left out, so it allows no connection"
	}
	return "there those fields are ignored, so the rule matches every connection the rest of it matches"
}

// tcpPortsOf lists the TCP inbound ports of the pods a policy applies to,
// as "3306 of sock-shop/db-v1" (the first pod, and how many more).
func tcpPortsOf(s *Snapshot, ap *AuthorizationPolicy) []string {
	pods := map[uint32][]string{}
	var order []uint32
	for _, pod := range s.Pods {
		if !PolicyApplies(s.Root(), ap.Meta, ap.Spec.GetSelector(), pod) {
			continue
		}
		var ports []uint32
		for _, port := range InboundPorts(s.Services, pod) {
			if !port.HTTP {
				ports = append(ports, port.Port)
			}
		}
		for _, port := range append(ports, gatewayL4Ports(s.Gateways, pod)...) {
			if pods[port] == nil {
				order = append(order, port)
			}
			pods[port] = append(pods[port], pod.Key())
		}
	}
	var out []string
	for _, port := range order {
		names := pods[port]
		desc := fmt.Sprintf("%d of %s", port, names[0])
		if len(names) > 1 {
			desc += fmt.Sprintf(" (and %d more pods)", len(names)-1)
		}
		out = append(out, desc)
	}
	return out
}

// gatewayL4Ports are the TCP and TLS passthrough server ports of the
// Gateways that select pod by its labels, where a policy on the pod is
// network RBAC.
func gatewayL4Ports(gateways []*Gateway, pod *Pod) []uint32 {
	var out []uint32
	for _, gw := range gateways {
		if len(gw.Spec.GetSelector()) == 0 || !selects(gw.Spec.GetSelector(), pod.Labels) {
			continue
		}
		for _, server := range gw.Spec.GetServers() {
			if kind := ServerKind(server); kind == GatewayTCP || kind == GatewayPassthrough {
				out = append(out, server.GetPort().GetNumber())
			}
		}
	}
	return out
}

// HTTPOnlyFields names the fields of a rule that only an HTTP request has,
// as paths of the rule ("to[0].operation.paths", "when[1]").
func HTTPOnlyFields(r *security.Rule) []string {
	var out []string
	for i, from := range r.GetFrom() {
		s := from.GetSource()
		if len(s.GetRequestPrincipals())+len(s.GetNotRequestPrincipals()) > 0 {
			out = append(out, fmt.Sprintf("from[%d].source.requestPrincipals", i))
		}
	}
	for i, to := range r.GetTo() {
		o := to.GetOperation()
		for name, values := range map[string]int{
			"hosts": len(o.GetHosts()) + len(o.GetNotHosts()), "methods": len(o.GetMethods()) + len(o.GetNotMethods()),
			"paths": len(o.GetPaths()) + len(o.GetNotPaths()),
		} {
			if values > 0 {
				out = append(out, fmt.Sprintf("to[%d].operation.%s", i, name))
			}
		}
	}
	for i, c := range r.GetWhen() {
		if key, err := ParseConditionKey(c.GetKey()); err == nil && HTTPOnlyAttribute(key.Attribute) {
			out = append(out, fmt.Sprintf("when[%d] (%s)", i, c.GetKey()))
		}
	}
	sort.Strings(out)
	return out
}

// HTTPOnlyAttribute reports whether a condition attribute exists only for
// HTTP requests.
func HTTPOnlyAttribute(attr string) bool {
	switch attr {
	case AttrRequestHeaders, AttrRequestPrincipal, AttrAudiences, AttrPresenter, AttrClaims:
		return true
	}
	return false
}
