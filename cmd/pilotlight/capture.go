package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/capture"
)

// captureFlags are istio-iptables' flags, with its one-letter names.
type captureFlags struct {
	outboundPort, inboundPort uint16
	uid, gid                  uint32
	inboundPorts              string
	excludeInboundPorts       string
	outboundRanges            string
	excludeOutboundRanges     string
	outboundPorts             string
	excludeOutboundPorts      string
	dryRun                    bool
}

func initCaptureCommand() *cobra.Command {
	d := capture.DefaultConfig()
	f := captureFlags{}
	cmd := &cobra.Command{
		Use:   "init-capture",
		Short: "Install the nat rules that send a pod's TCP through its sidecar",
		Long: `init-capture runs in a pod's init container (NET_ADMIN, NET_RAW) and installs,
over netlink in one atomic commit, the nftables table "ip pilotlight": inbound
TCP is redirected to the sidecar's inbound port (15006), outbound TCP to its
outbound port (15001). The sidecar's own traffic (its uid and gid) and
traffic to 127.0.0.1 are not captured. It needs no iptables or nft binary.

The flags are istio-iptables' (the injector sets them from the pod's
traffic.sidecar.istio.io/* annotations). Lists are comma-separated; "*" means
all. --dry-run prints the ruleset in nft syntax and changes nothing.`,
		Example: "  pilotlight init-capture --dry-run\n" +
			"  pilotlight init-capture -b '8080,9090' -x 10.96.0.1/32 -o 5432",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.config()
			if err != nil {
				return err
			}
			rs, err := capture.Build(c)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), rs)
			if f.dryRun {
				return nil
			}
			if err := capture.Apply(rs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# installed table ip %s\n", capture.TableName)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Uint16VarP(&f.outboundPort, "proxy-port", "p", d.OutboundPort, "the sidecar's outbound capture port (virtualOutbound)")
	fl.Uint16VarP(&f.inboundPort, "inbound-capture-port", "z", d.InboundPort, "the sidecar's inbound capture port (virtualInbound)")
	fl.Uint32VarP(&f.uid, "proxy-uid", "u", d.ProxyUID, "uid of the sidecar, whose traffic is not captured")
	fl.Uint32VarP(&f.gid, "proxy-gid", "g", d.ProxyGID, "gid of the sidecar, whose traffic is not captured")
	fl.StringVarP(&f.inboundPorts, "inbound-ports", "b", d.InboundPorts.String(), `inbound ports to capture: "*", a list, or "" for none`)
	fl.StringVarP(&f.excludeInboundPorts, "exclude-inbound-ports", "d", capture.JoinPorts(d.ExcludeInboundPorts), `inbound ports not captured (with -b "*")`)
	fl.StringVarP(&f.outboundRanges, "outbound-ip-ranges", "i", d.OutboundRanges.String(), `destination CIDRs to capture: "*", a list, or "" for none`)
	fl.StringVarP(&f.excludeOutboundRanges, "exclude-outbound-ip-ranges", "x", "", "destination CIDRs not captured")
	fl.StringVarP(&f.outboundPorts, "outbound-ports", "q", "", "destination ports always captured, whatever the address")
	fl.StringVarP(&f.excludeOutboundPorts, "exclude-outbound-ports", "o", "", "destination ports not captured")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the ruleset and change nothing")
	return cmd
}

// config checks every flag and names the one that is wrong.
func (f captureFlags) config() (capture.Config, error) {
	c := capture.Config{OutboundPort: f.outboundPort, InboundPort: f.inboundPort, ProxyUID: f.uid, ProxyGID: f.gid}
	var err error
	if c.InboundPorts, err = capture.ParsePortsOrAll(f.inboundPorts); err != nil {
		return c, fmt.Errorf("--inbound-ports: %w", err)
	}
	ports := []struct {
		flag, value string
		into        *[]uint16
	}{
		{"exclude-inbound-ports", f.excludeInboundPorts, &c.ExcludeInboundPorts},
		{"outbound-ports", f.outboundPorts, &c.OutboundPorts},
		{"exclude-outbound-ports", f.excludeOutboundPorts, &c.ExcludeOutboundPorts},
	}
	for _, p := range ports {
		if *p.into, err = capture.ParsePorts(p.value); err != nil {
			return c, fmt.Errorf("--%s: %w", p.flag, err)
		}
	}
	var v6, v6x []netip.Prefix
	if c.OutboundRanges, v6, err = capture.ParseRangesOrAll(f.outboundRanges); err != nil {
		return c, fmt.Errorf("--outbound-ip-ranges: %w", err)
	}
	if c.ExcludeOutboundRanges, v6x, err = capture.ParseRanges(f.excludeOutboundRanges); err != nil {
		return c, fmt.Errorf("--exclude-outbound-ip-ranges: %w", err)
	}
	if six := append(v6, v6x...); len(six) > 0 {
		return c, fmt.Errorf("IPv6 ranges %s: only IPv4 traffic is captured", capture.JoinPrefixes(six))
	}
	return c, nil
}
