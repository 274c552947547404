package discovery

// Validation of header operations, and of the Envoy format strings that
// header values may hold.

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1"
)

// checkHeaderOps checks headers.request and headers.response. Envoy refuses
// to change pseudo-headers and Host through header lists; a request Host
// (or :authority) set or add is allowed, as translation turns it into a host
// rewrite, but Host cannot be removed nor set on a response.
func checkHeaderOps(p *problemList, path string, h *networking.Headers) {
	checkHeaderOperations(p, path+".request", h.GetRequest(), true)
	checkHeaderOperations(p, path+".response", h.GetResponse(), false)
}

func checkHeaderOperations(p *problemList, path string, ops *networking.Headers_HeaderOperations, request bool) {
	for _, kind := range []struct {
		name    string
		headers map[string]string
	}{{"set", ops.GetSet()}, {"add", ops.GetAdd()}} {
		for _, name := range sortedNames(kind.headers) {
			field := fieldKey(path+"."+kind.name, name)
			if !(request && isAuthorityName(name)) {
				checkModifiableHeader(p, field, name)
			}
			checkHeaderValue(p, field, kind.headers[name])
			if !(request && isAuthorityName(name)) { // a host rewrite is a literal
				checkHeaderFormat(p, field, kind.headers[name])
			}
		}
	}
	for i, name := range ops.GetRemove() {
		checkModifiableHeader(p, fieldIndex(path+".remove", i), name)
	}
}

func checkModifiableHeader(p *problemList, path, name string) {
	switch {
	case name == "":
		p.add(path, "a header name must not be empty")
	case isAuthorityName(name):
		p.add(path, "Envoy does not let a route change or remove the Host header here; set rewrite.authority, or request.set.host")
	case strings.HasPrefix(name, ":"):
		p.add(path, "pseudo-header %q cannot be changed", name)
	case !isToken(name):
		p.add(path, "%q is not a valid HTTP header name", name)
	}
}

func isAuthorityName(name string) bool {
	return strings.EqualFold(name, "host") || strings.EqualFold(name, ":authority")
}

// headerCommands are the Envoy format commands a request or response header
// value may use (%DOWNSTREAM_REMOTE_ADDRESS%, %REQ(x-user)%), and whether
// each takes an argument in parentheses. Envoy reads every header value it
// adds as a format string and rejects the route table (a NACK) when a
// value holds a lone % or a command it does not know; these are the ones
// that make sense in a mesh route and that Envoy 1.40 accepts there.
var headerCommands = map[string]formatArg{
	"DOWNSTREAM_REMOTE_ADDRESS":                     argNone,
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":        argNone,
	"DOWNSTREAM_REMOTE_PORT":                        argNone,
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS":              argNone,
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": argNone,
	"DOWNSTREAM_LOCAL_ADDRESS":                      argNone,
	"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":         argNone,
	"DOWNSTREAM_LOCAL_PORT":                         argNone,
	"UPSTREAM_REMOTE_ADDRESS":                       argNone,
	"UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":          argNone,
	"UPSTREAM_LOCAL_ADDRESS":                        argNone,
	"UPSTREAM_HOST":                                 argNone,
	"UPSTREAM_CLUSTER":                              argNone,
	"HOSTNAME":                                      argNone,
	"PROTOCOL":                                      argNone,
	"REQUESTED_SERVER_NAME":                         argNone,
	"ROUTE_NAME":                                    argNone,
	"START_TIME":                                    argOptional,
	"REQ":                                           argHeader,
	"RESP":                                          argHeader,
}

type formatArg int

const (
	argNone     formatArg = iota // %NAME%
	argOptional                  // %NAME% or %NAME(format)%
	argHeader                    // %NAME(header)% or %NAME(header):length%
)

// checkHeaderFormat checks a header value as Envoy will read it: %% is a
// literal %, and any other % starts a command of headerCommands.
func checkHeaderFormat(p *problemList, path, value string) {
	for i := 0; i < len(value); i++ {
		if value[i] != '%' {
			continue
		}
		if strings.HasPrefix(value[i:], "%%") {
			i++
			continue
		}
		n, reason := formatCommand(value[i:])
		if reason != "" {
			p.add(path, "%s; Envoy reads %% in a header value as the start of a command such as %%DOWNSTREAM_REMOTE_ADDRESS%%, write %%%% for a literal %%", reason)
			return
		}
		i += n - 1
	}
}

// formatCommand reads the command at the start of s ("%NAME…%") and returns
// its length, or why Envoy would not accept it.
func formatCommand(s string) (int, string) {
	i := 1
	for i < len(s) && (s[i] >= 'A' && s[i] <= 'Z' || s[i] == '_') {
		i++
	}
	name := s[1:i]
	kind, known := headerCommands[name]
	switch {
	case name == "" && len(s) == 1:
		return 0, "ends in a lone %"
	case name == "":
		return 0, fmt.Sprintf("a lone %% before %q", s[1:min(len(s), 12)])
	case !known:
		return 0, fmt.Sprintf("%%%s%% is not one of the commands pilotlight lets through (such as %%REQ(x-user)%%, %%HOSTNAME%%)", name)
	}
	arg, hasArg := "", i < len(s) && s[i] == '('
	if hasArg {
		end := strings.IndexByte(s[i:], ')')
		if end < 0 {
			return 0, fmt.Sprintf("%%%s( has no closing parenthesis", name)
		}
		arg, i = s[i+1:i+end], i+end+1
	}
	hasLength := i < len(s) && s[i] == ':'
	if hasLength {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 {
			return 0, fmt.Sprintf("%%%s%%: a length after : must be a number", name)
		}
		i = j
	}
	switch {
	case i >= len(s) || s[i] != '%':
		return 0, fmt.Sprintf("%%%s is not closed by %%", name)
	case kind == argHeader && !headerAlternatives(arg):
		return 0, fmt.Sprintf("%%%s%% needs a header name in parentheses, e.g. %%%s(x-user)%%", name, name)
	case kind == argNone && hasArg:
		return 0, fmt.Sprintf("%%%s%% takes no argument", name)
	case kind != argHeader && hasLength:
		return 0, fmt.Sprintf("%%%s%% takes no length", name)
	}
	return i + 1, ""
}

// headerAlternatives: "x-user", ":path", or alternatives "x-a?x-b".
func headerAlternatives(arg string) bool {
	for _, name := range strings.Split(arg, "?") {
		if !isToken(strings.TrimPrefix(name, ":")) {
			return false
		}
	}
	return true
}

// checkHeaderValue: Envoy rejects header values (and the paths, hosts and
// schemes it writes into headers) that hold NUL, CR or LF.
func checkHeaderValue(p *problemList, path, value string) {
	if strings.ContainsAny(value, "\x00\r\n") {
		p.add(path, "must not contain NUL, CR or LF")
	}
}

// isToken reports whether s is an RFC 9110 token, the syntax of header
// names and methods.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
