package discovery

import (
	"fmt"
	"strings"

	security "istio.io/api/security/v1beta1"
)

// The attributes an AuthorizationPolicy's when conditions may test
// (Istio's "Authorization Policy Conditions" reference).
const (
	AttrRequestHeaders   = "request.headers"        // request.headers[User-Agent]
	AttrSourceIP         = "source.ip"              // the peer address: 10.1.2.3, 10.1.0.0/16
	AttrRemoteIP         = "remote.ip"              // the client as X-Forwarded-For or proxy protocol says
	AttrSourceNamespace  = "source.namespace"       // from the peer certificate
	AttrSourcePrincipal  = "source.principal"       // cluster.local/ns/default/sa/productpage
	AttrSourceSA         = "source.serviceAccount"  // default/productpage
	AttrRequestPrincipal = "request.auth.principal" // iss/sub of the JWT
	AttrAudiences        = "request.auth.audiences" // the JWT's aud
	AttrPresenter        = "request.auth.presenter" // the JWT's azp
	AttrClaims           = "request.auth.claims"    // request.auth.claims[groups], claims[a][b] for nested
	AttrDestinationIP    = "destination.ip"
	AttrDestinationPort  = "destination.port"
	AttrSNI              = "connection.sni"
)

// ConditionKey is a when condition's key, read: the attribute, and for
// request.headers the header name, for request.auth.claims the claim path.
type ConditionKey struct {
	Attribute string
	Names     []string
}

// bracketed are the attributes whose key ends in [name] (claims: [a][b]...).
var bracketed = map[string]bool{AttrRequestHeaders: true, AttrClaims: true}

var plainAttributes = map[string]bool{
	AttrSourceIP: true, AttrRemoteIP: true, AttrSourceNamespace: true, AttrSourcePrincipal: true,
	AttrSourceSA: true, AttrRequestPrincipal: true, AttrAudiences: true, AttrPresenter: true,
	AttrDestinationIP: true, AttrDestinationPort: true, AttrSNI: true,
}

// ParseConditionKey reads a condition key such as "request.headers[x-user]"
// or "request.auth.claims[groups]".
func ParseConditionKey(key string) (ConditionKey, error) {
	if plainAttributes[key] {
		return ConditionKey{Attribute: key}, nil
	}
	attr, rest, found := strings.Cut(key, "[")
	if !found || !bracketed[attr] {
		if strings.HasPrefix(key, "experimental.envoy.filters.") {
			return ConditionKey{}, fmt.Errorf("key %q: experimental.envoy.filters.* is not supported", key)
		}
		return ConditionKey{}, fmt.Errorf("unknown attribute %q", key)
	}
	names, err := bracketNames("[" + rest)
	if err != nil {
		return ConditionKey{}, fmt.Errorf("key %q: %v", key, err)
	}
	if attr == AttrRequestHeaders && len(names) != 1 {
		return ConditionKey{}, fmt.Errorf("key %q: want request.headers[<name>]", key)
	}
	return ConditionKey{Attribute: attr, Names: names}, nil
}

// bracketNames reads "[a][b]" into a and b; each name is non-empty and
// holds no bracket.
func bracketNames(s string) ([]string, error) {
	var names []string
	for s != "" {
		if s[0] != '[' {
			return nil, fmt.Errorf("want [<name>] after the attribute")
		}
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return nil, fmt.Errorf("unclosed [")
		}
		name := s[1:end]
		if name == "" || strings.ContainsAny(name, "[\x00\r\n") {
			return nil, fmt.Errorf("name in brackets must be non-empty, without [ or control characters")
		}
		names = append(names, name)
		s = s[end+1:]
	}
	return names, nil
}

func checkCondition(p *problemList, path string, c *security.Condition) {
	if c == nil {
		p.add(path, "condition must not be null")
		return
	}
	key, err := ParseConditionKey(c.GetKey())
	switch {
	case c.GetKey() == "":
		p.add(path+".key", "key is required")
		return
	case err != nil:
		p.add(path+".key", "%v", err)
		return
	case len(c.GetValues()) == 0 && len(c.GetNotValues()) == 0:
		p.add(path, "at least one of values and notValues is required for key %s", c.GetKey())
		return
	}
	for _, field := range []struct {
		name   string
		values []string
	}{{"values", c.GetValues()}, {"notValues", c.GetNotValues()}} {
		for i, v := range field.values {
			checkConditionValue(p, fieldIndex(path+"."+field.name, i), key.Attribute, v)
		}
	}
}

func checkConditionValue(p *problemList, path, attr, v string) {
	if v == "" {
		p.add(path, "value must not be empty")
		return
	}
	checkHeaderValue(p, path, v)
	switch attr {
	case AttrSourceIP, AttrRemoteIP, AttrDestinationIP:
		checkIPBlock(p, path, v)
	case AttrDestinationPort:
		checkPortString(p, path, v)
	case AttrSourceSA:
		checkServiceAccount(p, path, v)
	}
}
