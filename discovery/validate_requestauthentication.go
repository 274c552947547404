package discovery

// Validation of RequestAuthentications, following Istio's webhook
// (pkg/config/validation: ValidateRequestAuthentication), plus what Envoy's
// jwt_authn filter would reject, so that nothing sent to it is NACKed.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	security "istio.io/api/security/v1beta1"
)

// ValidateRequestAuthentication returns the problems of one
// RequestAuthentication; none means it can be served.
func ValidateRequestAuthentication(ra *RequestAuthentication) []Problem {
	p := newProblemList("RequestAuthentication", ra.Meta)
	spec := ra.Spec
	if spec == nil {
		return nil
	}
	checkTargetRefs(p, spec.GetTargetRef() != nil || len(spec.GetTargetRefs()) > 0, spec.GetSelector() != nil)
	checkSelectorLabels(p, spec.GetSelector().GetMatchLabels())
	for i, rule := range spec.GetJwtRules() {
		checkJWTRule(p, fieldIndex("spec.jwtRules", i), rule)
	}
	return p.list
}

func checkJWTRule(p *problemList, path string, r *security.JWTRule) {
	if r == nil {
		p.add(path, "rule must not be null")
		return
	}
	if r.GetIssuer() == "" {
		p.add(path+".issuer", "issuer is required")
	}
	checkHeaderValue(p, path+".issuer", r.GetIssuer())
	for i, a := range r.GetAudiences() {
		if a == "" {
			p.add(fieldIndex(path+".audiences", i), "audience must not be empty")
		}
	}
	switch {
	case r.GetJwks() != "":
		if err := CheckJWKS([]byte(r.GetJwks())); err != nil {
			p.add(path+".jwks", "%v", err)
		}
	case r.GetJwksUri() != "":
		if err := CheckJWKSURI(r.GetJwksUri()); err != nil {
			p.add(path+".jwksUri", "%v", err)
		}
	default:
		// The keys come from the issuer's OpenID discovery document.
		if err := CheckJWKSURI(JWKSKey(r)); err != nil {
			p.add(path+".issuer", "without jwksUri or jwks the issuer must be an http(s) URL to discover the keys from: %v", err)
		}
	}
	for i, h := range r.GetFromHeaders() {
		if !isToken(h.GetName()) {
			p.add(fieldIndex(path+".fromHeaders", i)+".name", "%q is not a valid header name", h.GetName())
		}
		checkHeaderValue(p, fieldIndex(path+".fromHeaders", i)+".prefix", h.GetPrefix())
	}
	for i, q := range r.GetFromParams() {
		if q == "" {
			p.add(fieldIndex(path+".fromParams", i), "query parameter name must not be empty")
		}
	}
	for i, c := range r.GetFromCookies() {
		if !isToken(c) {
			p.add(fieldIndex(path+".fromCookies", i), "%q is not a valid cookie name", c)
		}
	}
	if h := r.GetOutputPayloadToHeader(); h != "" && !isToken(h) {
		p.add(path+".outputPayloadToHeader", "%q is not a valid header name", h)
	}
	for i, c := range r.GetOutputClaimToHeaders() {
		at := fieldIndex(path+".outputClaimToHeaders", i)
		if !isToken(c.GetHeader()) {
			p.add(at+".header", "%q is not a valid header name", c.GetHeader())
		}
		if c.GetClaim() == "" {
			p.add(at+".claim", "claim is required")
		}
	}
	checkHTTPDuration(p, path+".timeout", r.GetTimeout(), 0)
}

// CheckJWKSURI: a JWKS (or OpenID discovery) URL is absolute http or https
// with a host, as Istio requires.
func CheckJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: scheme must be http or https", raw)
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

// jwkTypes are the key types Envoy's JWT library reads.
var jwkTypes = map[string]bool{"RSA": true, "EC": true, "oct": true, "OKP": true}

// CheckJWKS checks that data is a JSON Web Key Set (RFC 7517) Envoy can
// use: an object whose "keys" hold at least one key of a known type. The
// keys themselves are Envoy's to read; a set it cannot read rejects every
// token, which is safe, but is reported here first.
func CheckJWKS(data []byte) error {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("not a JSON Web Key Set: %v", err)
	}
	if len(set.Keys) == 0 {
		return errors.New(`not a JSON Web Key Set: no "keys"`)
	}
	for i, k := range set.Keys {
		if !jwkTypes[k.Kty] {
			return fmt.Errorf("JSON Web Key Set: keys[%d] has kty %q, want RSA, EC, oct or OKP", i, k.Kty)
		}
	}
	return nil
}
