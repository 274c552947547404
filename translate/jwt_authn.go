package translate

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwt "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/emptypb"
	security "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

// RequestAuthentication → envoy.filters.http.jwt_authn, as Istio builds it
// (pilot/pkg/security/authn/policy_applier.go):
//   - every jwtRule of the RequestAuthentications that apply to the
//     workload becomes a provider "origins-i", rules sorted by issuer.
//   - the requirement lets a request without a token through (its request
//     principal is empty: an AuthorizationPolicy that requires one denies
//     it, 403), and rejects one whose token does not verify (401).
//   - a verified token's payload goes into dynamic metadata
//     (payload_in_metadata: "payload"), where the RBAC filters that follow
//     read iss/sub (requestPrincipals) and other claims.
//
// Fields: issuer → issuer; audiences → audiences; jwks (inline), or the
// key set the control plane fetched from jwksUri (Snapshot.JWKS) →
// local_jwks; fromHeaders → from_headers; fromParams → from_params;
// fromCookies → from_cookies; outputPayloadToHeader →
// forward_payload_header; forwardOriginalToken → forward;
// outputClaimToHeaders → claim_to_headers; spaceDelimitedClaims (plus
// scope and permission) → normalize_payload_in_metadata.
type jwtAuthnFilter struct{}

// failClosedJWKS stands in for a key set that could not be fetched: an RSA
// public key whose private half was thrown away when it was made, so no
// token verifies against it and every token is rejected (Istio does the
// same with its FakeJwks).
const failClosedJWKS = `{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"pilotlight-fail-closed","e":"AQAB","n":"3-2sRoEL3klezaZNOhG01TM-drdwn65RE32nF8XLeOhCzmeTZVK41MQ1WdumrRGfbfat4_x8PfUG04TH1IderXStU0J99SSbWsQYf1t0zCXcSC_RlPvr-viXMhhpA_UkiNFO0iTv5QyNQqGc6HNIRTVBklqQxbEpjF03dPa8LKGpKHOxTsU7IqSFOtuwi-RE4iScSr4ec0bger3TlpGZ07K_fAKFXUuvRpJODne9GV_rUuFC4GwpOxTcqLhmFadzYLc2Yz-tDXK3aFjhKSfvKtfvoHNt1u8p8bbcnGEZPjFMyUuWlYeLTQwJRUkg8sS9xqHia1r96e6r6d6AGVzdKQ"}]}`

// defaultSpaceDelimitedClaims are split at spaces in metadata, so that
// claims[scope] matches one scope of "read write" (Istio's default).
var defaultSpaceDelimitedClaims = []string{"permission", "scope"}

func (jwtAuthnFilter) build(c filterContext) *hcm.HttpFilter {
	if !enforcesPolicies(c) {
		return nil
	}
	config := jwtAuthentication(c.snap, jwtRules(c.policies.authentication()))
	if config == nil {
		return nil
	}
	return &hcm.HttpFilter{
		Name:       jwtAuthnFilterName,
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(config)},
	}
}

// jwtRules are the JWT rules of the RequestAuthentications that apply to
// a pod, sorted by issuer.
func jwtRules(policies []*discovery.RequestAuthentication) []*security.JWTRule {
	var rules []*security.JWTRule
	for _, ra := range policies {
		rules = append(rules, ra.Spec.GetJwtRules()...)
	}
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].GetIssuer() < rules[j].GetIssuer() })
	return rules
}

func jwtAuthentication(snap *discovery.Snapshot, rules []*security.JWTRule) *jwt.JwtAuthentication {
	if len(rules) == 0 {
		return nil
	}
	providers := map[string]*jwt.JwtProvider{}
	// Each provider's requirement: its token, if there is one, verifies.
	var eachOrMissing, anyProvider []*jwt.JwtRequirement
	for i, r := range rules {
		name := fmt.Sprintf("origins-%d", i)
		providers[name] = jwtProvider(snap, r)
		byName := &jwt.JwtRequirement{RequiresType: &jwt.JwtRequirement_ProviderName{ProviderName: name}}
		eachOrMissing = append(eachOrMissing, requiresAny(byName, allowMissing()))
		anyProvider = append(anyProvider, byName)
	}
	requirement := eachOrMissing[0]
	if len(rules) > 1 {
		// Every token present must verify (the AND); the OR with each
		// provider alone lets providers share a location (one Authorization
		// header), where the AND would always fail.
		all := &jwt.JwtRequirement{RequiresType: &jwt.JwtRequirement_RequiresAll{
			RequiresAll: &jwt.JwtRequirementAndList{Requirements: eachOrMissing},
		}}
		requirement = requiresAny(append(anyProvider, all)...)
	}
	return &jwt.JwtAuthentication{
		Providers: providers,
		Rules: []*jwt.RequirementRule{{
			Match:           &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			RequirementType: &jwt.RequirementRule_Requires{Requires: requirement},
		}},
		// A CORS preflight carries no token.
		BypassCorsPreflight: true,
	}
}

func requiresAny(rs ...*jwt.JwtRequirement) *jwt.JwtRequirement {
	return &jwt.JwtRequirement{RequiresType: &jwt.JwtRequirement_RequiresAny{RequiresAny: &jwt.JwtRequirementOrList{Requirements: rs}}}
}

func allowMissing() *jwt.JwtRequirement {
	return &jwt.JwtRequirement{RequiresType: &jwt.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}}
}

func jwtProvider(snap *discovery.Snapshot, r *security.JWTRule) *jwt.JwtProvider {
	p := &jwt.JwtProvider{
		Issuer:               r.GetIssuer(),
		Audiences:            r.GetAudiences(),
		Forward:              r.GetForwardOriginalToken(),
		ForwardPayloadHeader: r.GetOutputPayloadToHeader(),
		PayloadInMetadata:    jwtPayloadKey,
		NormalizePayloadInMetadata: &jwt.JwtProvider_NormalizePayload{
			SpaceDelimitedClaims: spaceDelimitedClaims(r.GetSpaceDelimitedClaims()),
		},
		FromParams:  r.GetFromParams(),
		FromCookies: r.GetFromCookies(),
		JwksSourceSpecifier: &jwt.JwtProvider_LocalJwks{LocalJwks: &core.DataSource{
			Specifier: &core.DataSource_InlineString{InlineString: jwks(snap, r)},
		}},
	}
	for _, h := range r.GetFromHeaders() {
		p.FromHeaders = append(p.FromHeaders, &jwt.JwtHeader{Name: h.GetName(), ValuePrefix: h.GetPrefix()})
	}
	for _, c := range r.GetOutputClaimToHeaders() {
		p.ClaimToHeaders = append(p.ClaimToHeaders, &jwt.JwtClaimToHeader{HeaderName: c.GetHeader(), ClaimName: c.GetClaim()})
	}
	return p
}

// jwks is the key set of a rule: inline, fetched, or none (fail closed).
func jwks(snap *discovery.Snapshot, r *security.JWTRule) string {
	if r.GetJwks() != "" {
		return r.GetJwks()
	}
	if keys, ok := snap.JWKS[discovery.JWKSKey(r)]; ok {
		return keys
	}
	return failClosedJWKS
}

// spaceDelimitedClaims are the defaults and the rule's own, sorted, each
// once.
func spaceDelimitedClaims(extra []string) []string {
	set := map[string]bool{}
	for _, c := range append(append([]string(nil), defaultSpaceDelimitedClaims...), extra...) {
		set[c] = true
	}
	return slices.Sorted(maps.Keys(set))
}
