package translate

import (
	"fmt"
	"regexp"
	"strings"

	rbacpb "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	security "istio.io/api/security/v1beta1"
)

// Principals: who sends a request (from.source, and the when conditions
// on the source), as Envoy RBAC Principals. A peer's identity is the URI
// SAN of its certificate, spiffe://<trust domain>/ns/<ns>/sa/<sa>, which
// Envoy's authenticated.principal_name matches (so these need mTLS):
//
//	principals         → principal_name spiffe://VALUE (exact/prefix/suffix/*)
//	namespaces         → principal_name regex .*/ns/NS/.*
//	serviceAccounts    → principal_name regex spiffe://.+/ns/NS/(.+/|)sa/SA(/.+)?
//	trustDomains       → principal_name regex spiffe://TD/.*
//	ipBlocks           → direct_remote_ip (the connection's peer)
//	remoteIpBlocks     → remote_ip (the client X-Forwarded-For names)
//	requestPrincipals  → "iss/sub", split at the last "/", as metadata
//	                     matchers on the JWT payload (payload.iss AND
//	                     payload.sub) that jwt_authn wrote
//	notX               → not_id over the OR of X

const spiffePrefix = "spiffe://"

var principalLogic = logic[*rbacpb.Principal]{
	and: func(ps []*rbacpb.Principal) *rbacpb.Principal {
		return &rbacpb.Principal{Identifier: &rbacpb.Principal_AndIds{AndIds: &rbacpb.Principal_Set{Ids: ps}}}
	},
	or:  principalOr,
	not: principalNot,
	any: principalAny,
}

func principalAny() *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_Any{Any: true}}
}

func principalNot(p *rbacpb.Principal) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_NotId{NotId: p}}
}

func principalOr(ps []*rbacpb.Principal) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_OrIds{OrIds: &rbacpb.Principal_Set{Ids: ps}}}
}

// sourceFields are the fields of a from.source, in Istio's order.
// policyNamespace is the default namespace of serviceAccounts.
func sourceFields(policyNamespace string, s *security.Source) []field[*rbacpb.Principal] {
	if s == nil {
		return nil
	}
	sa := func(v string) *rbacpb.Principal { return serviceAccountPrincipal(policyNamespace, v) }
	return []field[*rbacpb.Principal]{
		{values: s.Principals, notValues: s.NotPrincipals, each: spiffePrincipal},
		{values: s.RequestPrincipals, notValues: s.NotRequestPrincipals, httpOnly: true, all: requestPrincipals},
		{values: s.ServiceAccounts, notValues: s.NotServiceAccounts, each: sa},
		{values: s.TrustDomains, notValues: s.NotTrustDomains, each: trustDomainPrincipal},
		{values: s.Namespaces, notValues: s.NotNamespaces, each: namespacePrincipal},
		{values: s.RemoteIpBlocks, notValues: s.NotRemoteIpBlocks, each: remoteIPPrincipal},
		{values: s.IpBlocks, notValues: s.NotIpBlocks, each: directIPPrincipal},
	}
}

// authenticated matches the peer certificate's URI SAN (or, without one,
// its subject).
func authenticated(m *matcher.StringMatcher) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_Authenticated_{
		Authenticated: &rbacpb.Principal_Authenticated{PrincipalName: m},
	}}
}

// spiffePrincipal: "cluster.local/ns/shop/sa/front-end" is the URI SAN
// spiffe://cluster.local/ns/shop/sa/front-end.
func spiffePrincipal(v string) *rbacpb.Principal {
	return authenticated(stringMatch(v, spiffePrefix))
}

func namespacePrincipal(v string) *rbacpb.Principal {
	return authenticated(regexMatch(".*/ns/" + globRegex(v) + "/.*"))
}

// serviceAccountPrincipal: "sa" (in the policy's namespace) or "ns/sa",
// with the identity's optional extra path segments, as Istio matches it.
func serviceAccountPrincipal(policyNamespace, v string) *rbacpb.Principal {
	ns, sa, ok := strings.Cut(v, "/")
	if !ok {
		ns, sa = policyNamespace, v
	}
	return authenticated(regexMatch(fmt.Sprintf("spiffe://.+/ns/%s/(.+/|)sa/%s(/.+)?", regexp.QuoteMeta(ns), regexp.QuoteMeta(sa))))
}

// trustDomainPrincipal matches the trust domain, the SPIFFE ID's host.
func trustDomainPrincipal(v string) *rbacpb.Principal {
	td := strings.ReplaceAll(globRegex(v), ".*", "[^/]*")
	return authenticated(regexMatch("spiffe://" + td + "/.*"))
}

func directIPPrincipal(v string) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_DirectRemoteIp{DirectRemoteIp: cidrRange(v)}}
}

func remoteIPPrincipal(v string) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_RemoteIp{RemoteIp: cidrRange(v)}}
}

func headerPrincipal(name string) func(string) *rbacpb.Principal {
	return func(v string) *rbacpb.Principal {
		return &rbacpb.Principal{Identifier: &rbacpb.Principal_Header{Header: headerMatch(name, v, false)}}
	}
}

func metadataPrincipal(m *matcher.MetadataMatcher) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_Metadata{Metadata: m}}
}

// requestPrincipals matches the verified JWT's "iss/sub". The value is
// split at its last "/", since issuers are often URLs; a "*" at either end
// widens the part it is on, as in Istio.
func requestPrincipals(values []string) *rbacpb.Principal {
	var or []*rbacpb.Principal
	for _, v := range values {
		iss, sub := requestPrincipalParts(v)
		or = append(or, principalLogic.and([]*rbacpb.Principal{
			metadataPrincipal(jwtClaimMatch("iss", iss)),
			metadataPrincipal(jwtClaimMatch("sub", sub)),
		}))
	}
	if len(or) == 1 {
		return or[0]
	}
	return principalOr(or)
}

func requestPrincipalParts(v string) (iss, sub *matcher.StringMatcher) {
	anything := regexMatch(".+")
	i := strings.LastIndex(v, "/")
	split := i >= 0
	issuer, subject := v, ""
	if split {
		issuer, subject = v[:i], v[i+1:]
	}
	switch {
	case v == "*":
		return anything, anything
	case strings.HasPrefix(v, "*") && split:
		if issuer == "*" {
			return anything, exactMatch(subject)
		}
		return stringMatch(issuer, ""), exactMatch(subject)
	case strings.HasPrefix(v, "*"):
		return anything, stringMatch(v, "")
	case strings.HasSuffix(v, "*") && split:
		if subject == "*" {
			return exactMatch(issuer), anything
		}
		return exactMatch(issuer), stringMatch(subject, "")
	case strings.HasSuffix(v, "*"):
		return stringMatch(v, ""), anything
	}
	return exactMatch(issuer), exactMatch(subject)
}

// claimsPrincipal matches a claim of the verified JWT (audiences: aud,
// presenter: azp, claims[a][b]: the nested claim a.b) against any of the
// values, a list claim matching when one of its elements does.
func claimsPrincipal(path ...string) func([]string) *rbacpb.Principal {
	return func(values []string) *rbacpb.Principal {
		return metadataPrincipal(jwtClaimsMatch(path, values))
	}
}
