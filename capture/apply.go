package capture

import (
	"fmt"

	"github.com/google/nftables"
)

// Apply installs the ruleset in one netlink batch, which the kernel commits
// atomically: the pod sees either no capture or all of it. The table is
// replaced, so running it again (a restarted init container) leaves one
// copy of the rules. opts may name another network namespace
// (nftables.WithNetNSFd); by default it is the caller's.
func Apply(rs *Ruleset, opts ...nftables.ConnOption) error {
	conn, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	// add, delete, add: "delete" alone would fail when the table is absent.
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	chains := map[string]*nftables.Chain{}
	for _, c := range rs.Chains {
		chains[c.Name] = conn.AddChain(c.nftChain(table))
	}
	for _, c := range rs.Chains {
		for _, r := range c.Rules {
			conn.AddRule(&nftables.Rule{Table: table, Chain: chains[c.Name], Exprs: r.exprs()})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: installing table ip %s: %w (the init container needs NET_ADMIN)", TableName, err)
	}
	return nil
}

// Installed lists the rules of the table as the kernel holds them, chain by
// chain: how many each chain has. It fails when the table is missing.
func Installed(opts ...nftables.ConnOption) (map[string]int, error) {
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, err
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	found := false
	for _, c := range chains {
		if c.Table.Name != TableName {
			continue
		}
		found = true
		rules, err := conn.GetRules(table, c)
		if err != nil {
			return nil, err
		}
		out[c.Name] = len(rules)
	}
	if !found {
		return nil, fmt.Errorf("no table ip %s", TableName)
	}
	return out, nil
}
