package harness

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
)

// JWTIssuer is an issuer of JSON Web Tokens for tests: an RSA key pair the
// test generates, its public half as a JWKS (RFC 7517), and RS256 tokens
// (RFC 7515, 7519) signed with the private half.
type JWTIssuer struct {
	Issuer string
	KID    string
	key    *rsa.PrivateKey
}

// NewJWTIssuer generates a 2048-bit RSA key for issuer.
func NewJWTIssuer(t testing.TB, issuer, kid string) *JWTIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return &JWTIssuer{Issuer: issuer, KID: kid, key: key}
}

// JWKS is the key set with the issuer's public key.
func (j *JWTIssuer) JWKS() string {
	b64 := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": j.KID,
		"n": b64(j.key.N.Bytes()), "e": b64(big.NewInt(int64(j.key.E)).Bytes()),
	}}}
	out, _ := json.Marshal(set)
	return string(out)
}

// Token signs claims (iss is added when claims has none).
func (j *JWTIssuer) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": j.Issuer}
	for k, v := range claims {
		c[k] = v
	}
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": j.KID})
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, j.key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}
