package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestInitCaptureDryRun: the flags reach the ruleset, --dry-run prints it
// (and installs nothing: this test runs unprivileged too), bad values name
// their flag.
func TestInitCaptureDryRun(t *testing.T) {
	cases := []struct {
		args []string
		want []string // lines of the ruleset, or the error
		err  bool
	}{
		{args: nil, want: []string{"tcp dport 15021 return", "tcp dport 15090 return", "jump redirect\n"}},
		{args: []string{"-b", "8080", "-o", "5432", "-x", "10.96.0.1", "-i", "10.96.0.0/12", "-q", "443", "-p", "15101"},
			want: []string{"tcp dport 8080 jump inbound_redirect", "tcp dport 5432 return", "ip daddr 10.96.0.1 return",
				"ip daddr 10.96.0.0/12 jump redirect", "tcp dport 443 jump redirect", "redirect to :15101"}},
		{args: []string{"-b", ""}, want: []string{"chain outbound"}},
		{args: []string{"-d", "http"}, want: []string{"--exclude-inbound-ports"}, err: true},
		{args: []string{"-i", "10.0.0.0/33"}, want: []string{"--outbound-ip-ranges"}, err: true},
		{args: []string{"-x", "fd00::/8"}, want: []string{"IPv6"}, err: true},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := initCaptureCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"--dry-run"}, tc.args...))
			err := cmd.Execute()
			got := out.String()
			if tc.err {
				if err == nil {
					t.Fatalf("accepted; printed:\n%s", got)
				}
				got = err.Error()
			} else if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			if len(tc.args) == 2 && tc.args[1] == "" && strings.Contains(got, "chain prerouting") {
				t.Errorf("-b '' still captures inbound:\n%s", got)
			}
		})
	}
}
