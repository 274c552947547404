// Package capture builds the nat rules that send a pod's TCP through its
// sidecar (what Istio's istio-iptables init container does) and installs
// them over netlink with google/nftables: no iptables or nft binary in the
// image, and the whole ruleset in one atomic commit.
//
// Outbound TCP is redirected to the sidecar's 15001 and inbound TCP to its
// 15006; the sidecar's own traffic (its uid and gid, 1337) and traffic to
// 127.0.0.1 are left alone, so Envoy's upstream connections are never
// looped back into it. Which ports and address ranges are captured is
// configurable with the flags (and pod annotations) Istio uses.
package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Config says what to capture. Its fields follow istio-iptables' flags.
type Config struct {
	// OutboundPort and InboundPort are the sidecar's virtual outbound and
	// inbound listeners (15001 and 15006).
	OutboundPort, InboundPort uint16
	// ProxyUID and ProxyGID are the sidecar's: its traffic is not captured.
	ProxyUID, ProxyGID uint32

	// InboundPorts are the inbound ports redirected to InboundPort;
	// ExcludeInboundPorts are left alone when InboundPorts is All.
	InboundPorts        Ports
	ExcludeInboundPorts []uint16

	// OutboundRanges are the destinations redirected to OutboundPort;
	// ExcludeOutboundRanges and ExcludeOutboundPorts are left alone, and
	// OutboundPorts are redirected whatever the destination.
	OutboundRanges        Ranges
	ExcludeOutboundRanges []netip.Prefix
	OutboundPorts         []uint16
	ExcludeOutboundPorts  []uint16
}

// DefaultConfig is what the injected init container runs with when no
// annotation says otherwise: everything captured but the sidecar's own
// health (15021) and stats (15090) ports, as Istio does.
func DefaultConfig() Config {
	return Config{
		OutboundPort:        15001,
		InboundPort:         15006,
		ProxyUID:            1337,
		ProxyGID:            1337,
		InboundPorts:        Ports{All: true},
		ExcludeInboundPorts: []uint16{15021, 15090},
		OutboundRanges:      Ranges{All: true},
	}
}

// Ports is "*" (All), a list, or nothing.
type Ports struct {
	All   bool
	Ports []uint16
}

// Ranges is "*" (All), a list of IPv4 prefixes, or nothing.
type Ranges struct {
	All      bool
	Prefixes []netip.Prefix
}

// ParsePorts reads a comma-separated port list ("15090,15021"; spaces and
// empty items are allowed). Ports keep their order; repeats are dropped.
func ParsePorts(s string) ([]uint16, error) {
	var out []uint16
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n, err := strconv.ParseUint(item, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a port (1-65535)", item)
		}
		if !slices.Contains(out, uint16(n)) {
			out = append(out, uint16(n))
		}
	}
	return out, nil
}

// ParsePortsOrAll reads "*" or a port list.
func ParsePortsOrAll(s string) (Ports, error) {
	if strings.TrimSpace(s) == "*" {
		return Ports{All: true}, nil
	}
	ports, err := ParsePorts(s)
	return Ports{Ports: ports}, err
}

// ParseRanges reads a comma-separated list of CIDRs (a bare address is a
// /32). IPv6 ranges are returned apart: only IPv4 is captured.
func ParseRanges(s string) (v4, v6 []netip.Prefix, err error) {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			a, aerr := netip.ParseAddr(item)
			if aerr != nil {
				return nil, nil, fmt.Errorf("%q is not a CIDR range", item)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4() {
			v4 = append(v4, p.Masked())
		} else {
			v6 = append(v6, p.Masked())
		}
	}
	return v4, v6, nil
}

// ParseRangesOrAll reads "*" or a CIDR list.
func ParseRangesOrAll(s string) (Ranges, []netip.Prefix, error) {
	if strings.TrimSpace(s) == "*" {
		return Ranges{All: true}, nil, nil
	}
	v4, v6, err := ParseRanges(s)
	return Ranges{Prefixes: v4}, v6, err
}

// String renders "*" or the list, as the flags take it.
func (p Ports) String() string {
	if p.All {
		return "*"
	}
	return JoinPorts(p.Ports)
}

func (r Ranges) String() string {
	if r.All {
		return "*"
	}
	return JoinPrefixes(r.Prefixes)
}

// JoinPorts renders a port list for a flag.
func JoinPorts(ports []uint16) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = strconv.Itoa(int(p))
	}
	return strings.Join(parts, ",")
}

// JoinPrefixes renders a CIDR list for a flag.
func JoinPrefixes(prefixes []netip.Prefix) string {
	parts := make([]string, len(prefixes))
	for i, p := range prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}
