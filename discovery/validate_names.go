package discovery

// Validation of names, addresses, ports and hosts: the values that Envoy
// reads as syntax (a listener address, an endpoint, a route table domain),
// where a bad one is rejected with the whole resource that holds it.

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// checkObjectName checks the namespace and name of an object, "ns/name", as
// the API server would have: a namespace is a DNS-1123 label, a name a
// DNS-1123 subdomain. In a cluster they always are; a folder has no API
// server, and a name is part of Envoy resource names and domains.
func checkObjectName(kind, key string) []Problem {
	ns, name, _ := strings.Cut(key, "/")
	var problems []Problem
	add := func(field, value string, errs []string) {
		if len(errs) > 0 {
			problems = append(problems, Problem{Kind: kind, Name: key, Field: field,
				Reason: fmt.Sprintf("%q is not a valid name: %s", value, strings.Join(errs, "; "))})
		}
	}
	if ns != "" { // cluster-scoped kinds have none
		add("metadata.namespace", ns, validation.IsDNS1123Label(ns))
	}
	add("metadata.name", name, validation.IsDNS1123Subdomain(name))
	return problems
}

// ParseIP reads an IP address strictly: no leading zeros, no spaces, no
// zone. Envoy's socket addresses take nothing else.
func ParseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return a, fmt.Errorf("%q is not an IP address", s)
	case a.Zone() != "":
		return a, fmt.Errorf("%q: an address with a zone is not supported", s)
	}
	return a, nil
}

// checkIP reports a value that is not an IP address.
func checkIP(p *problemList, path, s string) {
	if _, err := ParseIP(s); err != nil {
		p.add(path, "%v", err)
	}
}

// checkPortNumber reports a port outside 1..65535.
func checkPortNumber(p *problemList, path string, port int64) {
	if port < 1 || port > 65535 {
		p.add(path, "port %d is not in 1..65535", port)
	}
}

// maxHostLength is the longest DNS name, and Envoy's limit on a domain.
const maxHostLength = 253

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// dnsName is a host name, optionally starting with a "*." wildcard.
	dnsName = regexp.MustCompile(`^(\*\.)?[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$`)
)

// validHostName: "*", "*.suffix" or a DNS name of at most 253 characters
// whose labels have at most 63; ASCII only, no spaces: a route table domain
// or SNI name Envoy accepts, and that a client can send.
func validHostName(h string) bool {
	if h == "*" {
		return true
	}
	if len(h) > maxHostLength || !dnsName.MatchString(h) {
		return false
	}
	for _, label := range strings.Split(strings.TrimPrefix(h, "*."), ".") {
		if len(label) > 63 {
			return false
		}
	}
	return true
}

// checkHost checks a host of a VirtualService or a destination: a DNS name
// (short or fully qualified, optionally ending in a dot), a wildcard, or
// an IP address.
func checkHost(p *problemList, path, h string) {
	if _, err := ParseIP(h); err == nil {
		return
	}
	if !validHostName(strings.TrimSuffix(h, ".")) {
		p.add(path, "%q is not a host name: want a DNS name such as reviews or reviews.bookinfo.svc.cluster.local, *.example.com, or *", h)
	}
}
