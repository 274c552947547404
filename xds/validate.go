package xds

import (
	"fmt"
	"net/netip"
	"strings"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
)

// validate runs the checks Envoy would make before it accepts a resource,
// so that a resource it would reject is reported and never sent: a NACK
// can then only come from something these checks do not know yet.
//
// First the proto constraints Envoy's API declares (protoc-gen-validate,
// ValidateAll), including inside every typed_config (an Any, which
// ValidateAll does not open); then what those constraints cannot say.
//
// Each typed config it opens is handed to opened (refs.go reads a
// listener's from there, rather than unmarshal them twice).
func validate(msg proto.Message, opened func(proto.Message), seen anyCache) error {
	if err := validateAll(msg); err != nil {
		return err
	}
	if err := validateAnys(msg.ProtoReflect(), opened, seen); err != nil {
		return err
	}
	switch m := msg.(type) {
	case *listener.Listener:
		return checkListener(m)
	case *route.RouteConfiguration:
		return checkDomains(m)
	case *endpoint.ClusterLoadAssignment:
		return checkEndpointAddresses(m)
	case *cluster.Cluster:
		if t := m.GetType(); t == cluster.Cluster_STATIC || t == cluster.Cluster_EDS {
			return checkEndpointAddresses(m.GetLoadAssignment())
		}
	}
	return nil
}

type validator interface{ ValidateAll() error }

func validateAll(msg proto.Message) error {
	if v, ok := msg.(validator); ok {
		return v.ValidateAll()
	}
	return nil
}

// checkListener: Envoy binds a listener's addresses as IP literals, and
// picks a filter chain by its match, so no two chains may match alike.
func checkListener(l *listener.Listener) error {
	addrs := []*core.Address{l.GetAddress()}
	for _, a := range l.GetAdditionalAddresses() {
		addrs = append(addrs, a.GetAddress())
	}
	for _, a := range addrs {
		if err := checkIP(a.GetSocketAddress()); err != nil {
			return fmt.Errorf("listener address: %w", err)
		}
	}
	return checkFilterChainMatches(l.GetFilterChains())
}

// checkIP: a socket address Envoy takes as an IP literal (listeners,
// static and EDS endpoints) must be one. Envoy resolves nothing there.
func checkIP(sa *core.SocketAddress) error {
	if sa == nil || sa.GetResolverName() != "" {
		return nil
	}
	if _, err := netip.ParseAddr(sa.GetAddress()); err != nil {
		return fmt.Errorf("%q is not an IP address", sa.GetAddress())
	}
	return nil
}

func checkEndpointAddresses(la *endpoint.ClusterLoadAssignment) error {
	for _, group := range la.GetEndpoints() {
		for _, lb := range group.GetLbEndpoints() {
			if err := checkIP(lb.GetEndpoint().GetAddress().GetSocketAddress()); err != nil {
				return fmt.Errorf("endpoint address: %w", err)
			}
		}
	}
	return nil
}

// checkDomains: Envoy picks a virtual host by the request's host, so a
// domain (compared without case) may appear once in a route configuration.
func checkDomains(rc *route.RouteConfiguration) error {
	owner := map[string]string{}
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			key := strings.ToLower(d)
			if prev, dup := owner[key]; dup {
				return fmt.Errorf("domain %q is in virtual hosts %q and %q; Envoy allows a domain once per route configuration", d, prev, vh.GetName())
			}
			owner[key] = vh.GetName()
		}
	}
	return nil
}

// maxMatchKeys bounds the expansion below; translate's chains have a few.
const maxMatchKeys = 4096

// checkFilterChainMatches finds two filter chains that match the same
// connections. Envoy indexes chains by every combination of their match
// fields' values (an empty list matches anything, a value of its own), and
// rejects a listener where two chains share one ("overlapping matching
// rules"); so do we.
func checkFilterChainMatches(chains []*listener.FilterChain) error {
	if len(chains) < 2 {
		return nil // most listeners: nothing to overlap
	}
	owner := map[string]string{}
	for _, fc := range chains {
		keys := matchKeys(fc.GetFilterChainMatch())
		if len(keys) > maxMatchKeys {
			continue
		}
		for _, k := range keys {
			if prev, dup := owner[k]; dup {
				return fmt.Errorf("filter chains %q and %q match the same connections; Envoy rejects overlapping filter chain matches", prev, fc.GetName())
			}
			owner[k] = fc.GetName()
		}
	}
	return nil
}

func matchKeys(m *listener.FilterChainMatch) []string {
	var dims [][]string
	port := "*"
	if m.GetDestinationPort() != nil {
		port = fmt.Sprint(m.GetDestinationPort().GetValue())
	}
	dims = append(dims, []string{port},
		cidrs(m.GetPrefixRanges()), cidrs(m.GetDirectSourcePrefixRanges()),
		[]string{m.GetSourceType().String()}, cidrs(m.GetSourcePrefixRanges()),
		orAny(uintStrings(m.GetSourcePorts())), orAny(lower(m.GetServerNames())),
		[]string{orStar(m.GetTransportProtocol())}, orAny(m.GetApplicationProtocols()))
	keys := []string{""}
	for _, d := range dims {
		if len(keys)*len(d) > maxMatchKeys {
			return make([]string, maxMatchKeys+1)
		}
		next := make([]string, 0, len(keys)*len(d))
		for _, k := range keys {
			for _, v := range d {
				next = append(next, k+"|"+v)
			}
		}
		keys = next
	}
	return keys
}

func cidrs(rs []*core.CidrRange) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
	}
	return orAny(out)
}

func uintStrings(ns []uint32) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, fmt.Sprint(n))
	}
	return out
}

func lower(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, strings.ToLower(s))
	}
	return out
}

func orAny(ss []string) []string {
	if len(ss) == 0 {
		return []string{"*"}
	}
	return ss
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}
