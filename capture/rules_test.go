package capture

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden rulesets")

// TestRulesetGolden: --dry-run's text for the injected defaults and for a
// pod whose annotations narrow the capture. Read the diff on -update.
func TestRulesetGolden(t *testing.T) {
	narrow := DefaultConfig()
	narrow.InboundPorts = Ports{Ports: []uint16{8080, 9090}}
	narrow.OutboundRanges = Ranges{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("10.244.0.0/16")}}
	narrow.ExcludeOutboundRanges = []netip.Prefix{netip.MustParsePrefix("10.96.0.1/32")}
	narrow.OutboundPorts = []uint16{443}
	narrow.ExcludeOutboundPorts = []uint16{5432, 6379}
	noInbound := DefaultConfig()
	noInbound.InboundPorts = Ports{}
	cases := map[string]Config{"default": DefaultConfig(), "narrow": narrow, "no-inbound": noInbound}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rs, err := Build(c)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".nft")
			got := rs.String()
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./capture -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (go test ./capture -update, then read the diff):\n%s", path, got)
			}
		})
	}
}

// TestRulesetOrder pins what makes capture safe, whatever the golden files
// say: the sidecar's own traffic returns before anything redirects it to
// 15001, and 127.0.0.6 (inbound passthrough) returns first of all.
func TestRulesetOrder(t *testing.T) {
	rs, err := Build(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var out *Chain
	for _, c := range rs.Chains {
		if c.Name == chainOutbound {
			out = c
		}
	}
	if out == nil {
		t.Fatal("no outbound chain")
	}
	first, uidReturn, redirect := -1, -1, -1
	for i, r := range out.Rules {
		s := r.String()
		switch {
		case strings.Contains(s, "127.0.0.6") && first < 0:
			first = i
		case s == "meta skuid 1337 return":
			uidReturn = i
		case strings.HasSuffix(s, "jump redirect"):
			redirect = i
		}
	}
	if first != 0 || uidReturn < 0 || redirect < uidReturn {
		t.Fatalf("outbound rules in the wrong order (passthrough %d, uid return %d, redirect %d):\n%s", first, uidReturn, redirect, rs)
	}
}

func TestParse(t *testing.T) {
	if p, err := ParsePorts(" 15090, 15021,,15090 "); err != nil || JoinPorts(p) != "15090,15021" {
		t.Errorf("ParsePorts = %v, %v", p, err)
	}
	for _, bad := range []string{"0", "65536", "http", "80-90"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("ParsePorts(%q) accepted", bad)
		}
	}
	v4, v6, err := ParseRanges("10.0.0.0/8, 192.168.1.7, fd00::/8, 10.1.2.3/16")
	if err != nil || JoinPrefixes(v4) != "10.0.0.0/8,192.168.1.7/32,10.1.0.0/16" || len(v6) != 1 {
		t.Errorf("ParseRanges = %v %v %v", v4, v6, err)
	}
	if _, _, err := ParseRanges("10.0.0.0/33"); err == nil {
		t.Error("ParseRanges accepted /33")
	}
	if p, err := ParsePortsOrAll("*"); err != nil || !p.All {
		t.Errorf("ParsePortsOrAll(*) = %v, %v", p, err)
	}
}
