package discovery

// Validation of AuthorizationPolicies, following Istio's webhook
// (pkg/config/validation: ValidateAuthorizationPolicy) and rejecting what
// pilotlight does not implement. An invalid policy is skipped as a whole,
// as the webhook would have refused it.

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	security "istio.io/api/security/v1beta1"
)

// DryRunAnnotation marks a policy to be evaluated and logged, not enforced.
const DryRunAnnotation = "istio.io/dry-run"

// ValidateAuthorizationPolicy returns the problems of one policy; none
// means it can be served.
func ValidateAuthorizationPolicy(ap *AuthorizationPolicy) []Problem {
	p := newProblemList("AuthorizationPolicy", ap.Meta)
	spec := ap.Spec
	if spec == nil {
		return nil // spec: {} is ALLOW with no rules, the allow-nothing policy
	}
	checkTargetRefs(p, spec.GetTargetRef() != nil || len(spec.GetTargetRefs()) > 0, spec.GetSelector() != nil)
	checkSelectorLabels(p, spec.GetSelector().GetMatchLabels())
	if v, ok := ap.Annotations[DryRunAnnotation]; ok {
		if _, err := strconv.ParseBool(v); err != nil {
			p.add(fieldKey("metadata.annotations", DryRunAnnotation), "%q is not true or false", v)
		}
	}
	switch {
	case spec.GetAction() == security.AuthorizationPolicy_CUSTOM && spec.GetProvider().GetName() == "":
		p.add("spec.provider", "action CUSTOM needs a provider")
	case spec.GetAction() != security.AuthorizationPolicy_CUSTOM && spec.GetProvider() != nil:
		p.add("spec.provider", "a provider may only be used with action CUSTOM")
	}
	for i, rule := range spec.GetRules() {
		path := fieldIndex("spec.rules", i)
		if rule == nil {
			p.add(path, "rule must not be null")
			continue
		}
		for j, from := range rule.GetFrom() {
			checkSource(p, fieldIndex(path+".from", j)+".source", from.GetSource())
		}
		for j, to := range rule.GetTo() {
			checkOperation(p, fieldIndex(path+".to", j)+".operation", to.GetOperation())
		}
		for j, c := range rule.GetWhen() {
			checkCondition(p, fieldIndex(path+".when", j), c)
		}
	}
	return p.list
}

// checkTargetRefs: targetRef(s) attach a policy to a Gateway API gateway or
// a Service's waypoint, neither of which pilotlight serves.
func checkTargetRefs(p *problemList, hasTargetRef, hasSelector bool) {
	switch {
	case hasTargetRef && hasSelector:
		p.add("spec.targetRefs", "only one of selector and targetRef(s) may be set")
	case hasTargetRef:
		p.add("spec.targetRefs", "targetRef(s) are not supported (pilotlight selects workloads by spec.selector); the policy is not applied")
	}
}

// checkSelectorLabels: a label key must not be empty (Kubernetes would
// reject the pod labels it means to match).
func checkSelectorLabels(p *problemList, labels map[string]string) {
	for _, k := range sortedNames(labels) {
		if k == "" {
			p.add("spec.selector.matchLabels", "label key must not be empty")
		}
	}
}

func checkSource(p *problemList, path string, s *security.Source) {
	if s == nil {
		p.add(path, "source is required")
		return
	}
	lists := map[string][]string{
		"principals": s.Principals, "notPrincipals": s.NotPrincipals,
		"requestPrincipals": s.RequestPrincipals, "notRequestPrincipals": s.NotRequestPrincipals,
		"namespaces": s.Namespaces, "notNamespaces": s.NotNamespaces,
		"serviceAccounts": s.ServiceAccounts, "notServiceAccounts": s.NotServiceAccounts,
		"ipBlocks": s.IpBlocks, "notIpBlocks": s.NotIpBlocks,
		"remoteIpBlocks": s.RemoteIpBlocks, "notRemoteIpBlocks": s.NotRemoteIpBlocks,
		"trustDomains": s.TrustDomains, "notTrustDomains": s.NotTrustDomains,
	}
	checkLists(p, path, lists)
	checkEach(p, path, lists, checkIPBlock, "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks")
	checkEach(p, path, lists, checkServiceAccount, "serviceAccounts", "notServiceAccounts")
	sa := len(s.ServiceAccounts)+len(s.NotServiceAccounts) > 0
	if sa && len(s.Principals)+len(s.NotPrincipals)+len(s.Namespaces)+len(s.NotNamespaces) > 0 {
		p.add(path+".serviceAccounts", "serviceAccounts cannot be set with principals or namespaces")
	}
}

func checkOperation(p *problemList, path string, o *security.Operation) {
	if o == nil {
		p.add(path, "operation is required")
		return
	}
	lists := map[string][]string{
		"hosts": o.Hosts, "notHosts": o.NotHosts,
		"ports": o.Ports, "notPorts": o.NotPorts,
		"methods": o.Methods, "notMethods": o.NotMethods,
		"paths": o.Paths, "notPaths": o.NotPaths,
	}
	checkLists(p, path, lists)
	checkEach(p, path, lists, checkPortString, "ports", "notPorts")
	checkEach(p, path, lists, checkPath, "paths", "notPaths")
}

// checkEach checks every value of the named lists.
func checkEach(p *problemList, path string, lists map[string][]string, check func(p *problemList, path, v string), names ...string) {
	for _, name := range names {
		for i, v := range lists[name] {
			check(p, fieldIndex(path+"."+name, i), v)
		}
	}
}

func checkPath(p *problemList, path, v string) {
	if IsPathTemplate(v) {
		if err := checkPathTemplate(v); err != nil {
			p.add(path, "%v", err)
		}
	}
}

// checkLists: a block must say something (Istio: "must not be empty"),
// and no value may be empty or hold characters Envoy cannot match on.
func checkLists(p *problemList, path string, lists map[string][]string) {
	empty := true
	for _, name := range sortedNames(lists) {
		for i, v := range lists[name] {
			empty = false
			if v == "" {
				p.add(fieldIndex(path+"."+name, i), "value must not be empty")
			}
			checkHeaderValue(p, fieldIndex(path+"."+name, i), v)
		}
	}
	if empty {
		p.add(path, "must not be empty: set at least one field")
	}
}

func checkIPBlock(p *problemList, path, v string) {
	if _, err := ParseIPBlock(v); err != nil {
		p.add(path, "%v", err)
	}
}

// ParseIPBlock reads an IP block as Istio writes them: an address
// ("10.1.2.3", a /32 or /128) or a CIDR ("10.1.0.0/16").
func ParseIPBlock(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		prefix, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR block", v)
		}
		return prefix, nil
	}
	addr, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR block", v)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// checkServiceAccount: "name" or "namespace/name", with no wildcard.
func checkServiceAccount(p *problemList, path, v string) {
	if strings.Contains(v, "*") {
		p.add(path, "wildcards are not allowed in serviceAccounts")
	}
	if strings.Count(v, "/") > 1 || strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") {
		p.add(path, "%q: want <serviceaccount> or <namespace>/<serviceaccount>", v)
	}
}

func checkPortString(p *problemList, path, v string) {
	if _, err := ParsePort(v); err != nil {
		p.add(path, "%v", err)
	}
}

// ParsePort reads a port of an AuthorizationPolicy (ports are strings
// there): a number from 1 to 65535.
func ParsePort(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", v)
	}
	return uint32(n), nil
}

// IsPathTemplate reports whether a path uses Istio's path template
// operators {*} or {**}.
func IsPathTemplate(path string) bool {
	return strings.Contains(path, "{*}") || strings.Contains(path, "{**}")
}

// checkPathTemplate applies Istio's rules for path templates (each
// operator fills a whole path segment, {**} comes last, no "*", "{" or "}"
// outside an operator) and what Envoy's uri_template matcher accepts: a
// path from "/", no empty segment but a trailing "/", and literal segments
// of RFC 3986 path characters.
func checkPathTemplate(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("path template %q must start with /", path)
	}
	segments := strings.Split(path[1:], "/")
	sawDouble := false
	for i, seg := range segments {
		switch {
		case seg == "{*}" || seg == "{**}":
			if sawDouble {
				return fmt.Errorf("path template %q: {**} must be the last operator", path)
			}
			sawDouble = seg == "{**}"
		case strings.ContainsAny(seg, "*{}"):
			return fmt.Errorf("path template %q: segment %q must be {*} or {**} alone, and no other * { } is allowed", path, seg)
		case seg == "" && i < len(segments)-1:
			return fmt.Errorf("path template %q has an empty segment", path)
		case !templateLiteral.MatchString(seg):
			return fmt.Errorf("path template %q: segment %q may only hold letters, digits and -._~%%!$&'()+,;=:@", path, seg)
		}
	}
	return nil
}

// templateLiteral: RFC 3986 pchar (unreserved, pct-encoded, sub-delims, ":"
// and "@"), save "*", which templates reserve.
var templateLiteral = regexp.MustCompile(`^[A-Za-z0-9\-._~%!$&'()+,;=:@]*$`)
