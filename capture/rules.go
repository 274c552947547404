package capture

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table (family ip) that holds every rule.
const TableName = "pilotlight"

// Chain names. prerouting and output are the base chains (nat hooks); the
// others are jumped to.
const (
	chainPrerouting      = "prerouting"
	chainOutput          = "output"
	chainInbound         = "inbound"
	chainOutbound        = "outbound"
	chainRedirect        = "redirect"
	chainInboundRedirect = "inbound_redirect"
)

// Ruleset is the table to install: the same chains and rules render as nft
// text (String, for --dry-run) and as netlink expressions (Apply).
type Ruleset struct {
	Chains []*Chain
}

// Chain is one chain of the table; Hook is "" for a regular chain.
type Chain struct {
	Name  string
	Hook  string // "prerouting" or "output"
	Rules []Rule
}

// Rule is a match and a verdict, built from parts that each know their nft
// text and their expressions.
type Rule []part

type part struct {
	text  string
	exprs []expr.Any
}

// Build turns a Config into the ruleset, in the order istio-iptables writes
// its rules (tools/istio-iptables/pkg/capture in Istio):
//
//	prerouting → inbound: excluded ports return, the rest → inbound_redirect (15006)
//	output → outbound, in order:
//	  from 127.0.0.6 on lo: return (the sidecar's inbound passthrough)
//	  the sidecar (uid, then gid) to its own pod IP on lo: → inbound_redirect
//	  others on lo: return; the sidecar's other traffic: return
//	  to 127.0.0.1: return
//	  excluded ports return, included ports → redirect, excluded ranges return,
//	  included ranges → redirect (15001)
func Build(c Config) (*Ruleset, error) {
	if c.OutboundPort == 0 || c.InboundPort == 0 {
		return nil, fmt.Errorf("the outbound and inbound capture ports must be set")
	}
	rs := &Ruleset{}
	rs.Chains = append(rs.Chains,
		&Chain{Name: chainRedirect, Rules: []Rule{{tcp(), redirectTo(c.OutboundPort)}}},
		&Chain{Name: chainInboundRedirect, Rules: []Rule{{tcp(), redirectTo(c.InboundPort)}}},
	)
	if in := inboundRules(c); len(in) > 0 {
		rs.Chains = append(rs.Chains,
			&Chain{Name: chainPrerouting, Hook: "prerouting", Rules: []Rule{{tcp(), jump(chainInbound)}}},
			&Chain{Name: chainInbound, Rules: in})
	}
	rs.Chains = append(rs.Chains,
		&Chain{Name: chainOutput, Hook: "output", Rules: []Rule{{tcp(), jump(chainOutbound)}}},
		&Chain{Name: chainOutbound, Rules: outboundRules(c)})
	return rs, nil
}

func inboundRules(c Config) []Rule {
	var rules []Rule
	if c.InboundPorts.All {
		for _, p := range c.ExcludeInboundPorts {
			rules = append(rules, Rule{dport(p), verdictReturn()})
		}
		return append(rules, Rule{jump(chainInboundRedirect)})
	}
	for _, p := range c.InboundPorts.Ports {
		rules = append(rules, Rule{dport(p), jump(chainInboundRedirect)})
	}
	return rules
}

var (
	localhost   = netip.MustParsePrefix("127.0.0.1/32")
	passthrough = netip.MustParsePrefix("127.0.0.6/32")
)

func outboundRules(c Config) []Rule {
	rules := []Rule{
		{oifname("lo"), saddr(passthrough), verdictReturn()},
		{oifname("lo"), daddrNot(localhost), skuid(c.ProxyUID, true), jump(chainInboundRedirect)},
		{oifname("lo"), skuid(c.ProxyUID, false), verdictReturn()},
		{skuid(c.ProxyUID, true), verdictReturn()},
		{oifname("lo"), daddrNot(localhost), skgid(c.ProxyGID, true), jump(chainInboundRedirect)},
		{oifname("lo"), skgid(c.ProxyGID, false), verdictReturn()},
		{skgid(c.ProxyGID, true), verdictReturn()},
		{daddr(localhost), verdictReturn()},
	}
	for _, p := range c.ExcludeOutboundPorts {
		rules = append(rules, Rule{dport(p), verdictReturn()})
	}
	for _, p := range c.OutboundPorts {
		rules = append(rules, Rule{dport(p), jump(chainRedirect)})
	}
	for _, r := range c.ExcludeOutboundRanges {
		rules = append(rules, Rule{daddr(r), verdictReturn()})
	}
	if c.OutboundRanges.All {
		return append(rules, Rule{jump(chainRedirect)})
	}
	for _, r := range c.OutboundRanges.Prefixes {
		rules = append(rules, Rule{daddr(r), jump(chainRedirect)})
	}
	return rules
}

// String is the ruleset in nft syntax, as `nft list table ip pilotlight`
// would show it (and as `nft -f` would read it).
func (rs *Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", TableName)
	for i, c := range rs.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if c.Hook != "" {
			fmt.Fprintf(&b, "\t\ttype nat hook %s priority dstnat; policy accept;\n", c.Hook)
		}
		for _, r := range c.Rules {
			b.WriteString("\t\t" + r.String() + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (r Rule) String() string {
	texts := make([]string, len(r))
	for i, p := range r {
		texts[i] = p.text
	}
	return strings.Join(texts, " ")
}

func (r Rule) exprs() []expr.Any {
	var out []expr.Any
	for _, p := range r {
		out = append(out, p.exprs...)
	}
	return out
}

// The parts. Each loads a packet or socket field into register 1 and
// compares it, or is a verdict.

func tcp() part {
	return part{"meta l4proto tcp", []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}}
}

func oifname(name string) part {
	return part{fmt.Sprintf("oifname %q", name), []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
	}}
}

// ifname is an interface name as the kernel compares it: NUL-padded to IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func saddr(p netip.Prefix) part    { return addrMatch("saddr", 12, p, expr.CmpOpEq) }
func daddr(p netip.Prefix) part    { return addrMatch("daddr", 16, p, expr.CmpOpEq) }
func daddrNot(p netip.Prefix) part { return addrMatch("daddr", 16, p, expr.CmpOpNeq) }

// addrMatch compares the IPv4 source (offset 12) or destination (16)
// address with a prefix: masked when it is shorter than /32.
func addrMatch(field string, offset uint32, p netip.Prefix, op expr.CmpOp) part {
	text := "ip " + field + " "
	if op == expr.CmpOpNeq {
		text += "!= "
	}
	addr := p.Addr().As4()
	exprs := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}}
	if p.Bits() == 32 {
		text += p.Addr().String()
	} else {
		text += p.String()
		exprs = append(exprs, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: prefixMask(p.Bits()), Xor: []byte{0, 0, 0, 0}})
	}
	exprs = append(exprs, &expr.Cmp{Op: op, Register: 1, Data: addr[:]})
	return part{text, exprs}
}

func prefixMask(bits int) []byte {
	m := make([]byte, 4)
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// skuid and skgid match the owner of a local socket: is (==) or is not.
func skuid(uid uint32, is bool) part { return ownerMatch("skuid", expr.MetaKeySKUID, uid, is) }
func skgid(gid uint32, is bool) part { return ownerMatch("skgid", expr.MetaKeySKGID, gid, is) }

func ownerMatch(name string, key expr.MetaKey, id uint32, is bool) part {
	op, text := expr.CmpOpEq, fmt.Sprintf("meta %s %d", name, id)
	if !is {
		op, text = expr.CmpOpNeq, fmt.Sprintf("meta %s != %d", name, id)
	}
	return part{text, []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: binaryutil.NativeEndian.PutUint32(id)},
	}}
}

// dport matches the TCP destination port (offset 2 of the TCP header).
func dport(port uint16) part {
	return part{fmt.Sprintf("tcp dport %d", port), []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}}
}

func redirectTo(port uint16) part {
	return part{fmt.Sprintf("redirect to :%d", port), []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Redir{RegisterProtoMin: 1},
	}}
}

func jump(chain string) part {
	return part{"jump " + chain, []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}}
}

func verdictReturn() part {
	return part{"return", []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}}
}

// nftChain is the netlink chain of c in table t.
func (c *Chain) nftChain(t *nftables.Table) *nftables.Chain {
	ch := &nftables.Chain{Name: c.Name, Table: t}
	switch c.Hook {
	case "prerouting":
		ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest
	case "output":
		ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest
	}
	if c.Hook != "" {
		accept := nftables.ChainPolicyAccept
		ch.Policy = &accept
	}
	return ch
}
