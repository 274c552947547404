package discovery

// Validation of HTTP route matches: regexes, header and query parameter
// names.

import (
	"sort"
	"strings"

	networking "istio.io/api/networking/v1"
)

// checkMatch checks that every regex of an HTTP match compiles. Envoy uses
// Google's RE2, and so does Go's regexp package, so what compiles here is
// what Envoy will accept.
func checkMatch(p *problemList, path string, m *networking.HTTPMatchRequest) {
	checkRegex(p, path+".uri", m.Uri)
	checkRegex(p, path+".scheme", m.Scheme)
	checkRegex(p, path+".method", m.Method)
	checkRegex(p, path+".authority", m.Authority)
	checkRegexMap(p, path+".headers", m.Headers)
	checkRegexMap(p, path+".withoutHeaders", m.WithoutHeaders)
	checkRegexMap(p, path+".queryParams", m.QueryParams)
}

func checkRegexMap(p *problemList, path string, matches map[string]*networking.StringMatch) {
	names := make([]string, 0, len(matches))
	for name := range matches {
		names = append(names, name)
	}
	sort.Strings(names) // map order is random; problems should not be
	for _, name := range names {
		checkRegex(p, fieldKey(path, name), matches[name])
	}
}

func checkRegex(p *problemList, path string, m *networking.StringMatch) {
	switch v := m.GetMatchType().(type) {
	case *networking.StringMatch_Regex:
		checkRE2(p, path+".regex", v.Regex)
	case *networking.StringMatch_Prefix:
		// Envoy's StringMatcher requires a prefix of at least one byte.
		if v.Prefix == "" {
			p.add(path+".prefix", "prefix must not be empty")
		}
	}
}

// checkMatchFields checks what checkMatch does not: header and query
// parameter names, and a uri regex made case-insensitive by ignoreUriCase
// (the route then carries "(?i)" + regex, a larger program).
func checkMatchFields(p *problemList, path string, m *networking.HTTPMatchRequest) {
	if m == nil {
		return
	}
	for _, field := range []struct {
		name    string
		matches map[string]*networking.StringMatch
	}{{"headers", m.Headers}, {"withoutHeaders", m.WithoutHeaders}} {
		for _, name := range sortedNames(field.matches) {
			checkMatchHeaderName(p, fieldKey(path+"."+field.name, name), name)
		}
	}
	for _, name := range sortedNames(m.QueryParams) {
		switch {
		case name == "":
			p.add(path+".queryParams", "a query parameter name must not be empty")
		case len(name) > maxQueryParamName:
			p.add(fieldKey(path+".queryParams", name[:16]+"…"), "a query parameter name of %d bytes is longer than Envoy's limit of %d", len(name), maxQueryParamName)
		}
	}
	// Envoy's path and prefix are header values: no NUL, CR or LF.
	checkHeaderValue(p, path+".uri.exact", m.GetUri().GetExact())
	checkHeaderValue(p, path+".uri.prefix", m.GetUri().GetPrefix())
	if re := m.GetUri().GetRegex(); m.IgnoreUriCase && re != "" && re2ProgramSize(re) <= maxRegexProgramSize {
		if n := re2ProgramSize("(?i)" + re); n > maxRegexProgramSize {
			p.add(path+".uri.regex", "with ignoreUriCase the regex is too complex for Envoy: its RE2 program has about %d instructions, at most %d are accepted", n, maxRegexProgramSize)
		}
	}
}

func checkMatchHeaderName(p *problemList, path, name string) {
	switch {
	case name == "":
		p.add(path, "a header name must not be empty")
	case strings.HasPrefix(name, ":"):
		p.add(path, "pseudo-header %q cannot be matched here; use method, authority or scheme", name)
	case !isToken(name):
		p.add(path, "%q is not a valid HTTP header name", name)
	}
}

// maxQueryParamName is Envoy's limit on a query parameter matcher's name.
const maxQueryParamName = 1024
