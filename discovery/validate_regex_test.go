package discovery

import (
	"strings"
	"testing"
)

// TestRE2ProgramSizeAgainstEnvoy pins re2ProgramSize to the program sizes
// Envoy 1.40 itself reported ("RE2 program size of N > max program size of
// 100") for these regexes: the estimate must never be below Envoy's figure
// (a regex Envoy refuses would be served and NACKed), and for ASCII it
// stays within 3 of it (so little that Envoy accepts is refused). A size
// of 0 marks a regex Envoy accepted (at most 100).
func TestRE2ProgramSizeAgainstEnvoy(t *testing.T) {
	for _, tc := range []struct {
		re    string
		envoy int
		ascii bool
	}{
		{`/[a-z]{1,50}`, 104, true},
		{`(?i)/[a-z]{1,50}`, 104, true}, // case folding is free in RE2
		{`/[A-Za-z]{1,50}`, 104, true},
		{`/[a-z0-9_-]{1,30}`, 154, true},
		{`(?i)/[a-z0-9_-]{1,30}`, 154, true},
		{`.{1,48}`, 147, true},
		{`(?s).{1,60}`, 123, true},
		{`\w{1,30}`, 123, true},
		{`\d{1,60}`, 123, true},
		{`/[a-z]{1,60}/(foo|bar|baz|qux)[0-9]{2,20}`, 175, true},
		{strings.Repeat("abcdefghij", 10), 104, true},
		{"(?i)" + strings.Repeat("abcdefghij", 10), 104, true},
		{`/[^/]{1,40}`, 124, false},
		{`[\p{L}]{1,30}`, 243, false},
		{strings.Repeat("é", 50), 104, false},
		{`(get|post|put|delete|patch){20}`, 444, false},
		{`(?i)/[a-z]{1,45}`, 0, true},
		{`/[^/]+/[^/]+/[^/]+/[^/]+`, 0, true},
		{`(?i)^/api/(v1|v2|v3)/users/[0-9]+/orders/[a-z0-9-]+$`, 0, true},
		{`[\w.+-]+@[\w-]+\.[\w.]+`, 0, true},
	} {
		got := re2ProgramSize(tc.re)
		switch {
		case tc.envoy == 0 && got > maxRegexProgramSize:
			t.Errorf("%q: estimated %d, above the limit of %d, but Envoy accepts it", tc.re, got, maxRegexProgramSize)
		case got < tc.envoy:
			t.Errorf("%q: estimated %d, below Envoy's %d: Envoy would NACK what validation lets through", tc.re, got, tc.envoy)
		case tc.envoy > 0 && tc.ascii && got > tc.envoy+3:
			t.Errorf("%q: estimated %d, Envoy says %d: too far above", tc.re, got, tc.envoy)
		}
	}
}
