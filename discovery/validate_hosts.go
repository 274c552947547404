package discovery

// Host names as Istio objects write them: short names resolved to FQDNs,
// and wildcard patterns.

import "strings"

// ResolveHost turns a host written in an Istio object of the given namespace
// into the FQDN it names, as a pod's DNS search path would:
//
//	catalogue                               -> catalogue.<namespace>.svc.cluster.local
//	catalogue.sock-shop                     -> catalogue.sock-shop.svc.cluster.local
//	catalogue.sock-shop.svc                 -> catalogue.sock-shop.svc.cluster.local
//	catalogue.sock-shop.svc.cluster.local   unchanged
//	*.sock-shop.svc.cluster.local, *        unchanged (wildcards)
//
// Istio itself only expands names without a dot. Pilotlight routes only to
// Kubernetes services, so it also reads "name.namespace" the way Kubernetes
// DNS does. A trailing dot marks a name as already complete.
func ResolveHost(host, namespace string) string {
	if strings.HasPrefix(host, "*") {
		return host
	}
	if complete, ok := strings.CutSuffix(host, "."); ok {
		return complete
	}
	suffix := ".svc." + DefaultDomainSuffix
	switch {
	case !strings.Contains(host, "."):
		return host + "." + namespace + suffix
	case strings.Count(host, ".") == 1:
		return host + suffix
	case strings.HasSuffix(host, ".svc"):
		return host + "." + DefaultDomainSuffix
	}
	return host
}

// hostCovers reports whether a host pattern (an FQDN or a wildcard such as
// "*.sock-shop.svc.cluster.local") covers an FQDN.
func hostCovers(pattern, host string) bool {
	if pattern == "*" {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, rest)
	}
	return pattern == host
}
