package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func TestFolderTokens(t *testing.T) {
	dir := t.TempDir()
	now := t0
	clock := fixedClock(&now)
	auth, err := LoadOrCreateTokenKey(dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir+"/"+tokenKeyFile, 0o600)
	signer, err := LoadTokenSigner(dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	token, err := signer.Mint("sock-shop", "front-end-v1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := TokenPath(dir, "sock-shop", "front-end-v1")
	if err := WriteToken(path, token); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)

	got, err := auth.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if got != (Caller{Namespace: "sock-shop", Pod: "front-end-v1"}) {
		t.Errorf("caller %+v", got)
	}

	// A restart of serve reads the same key.
	again, err := LoadOrCreateTokenKey(dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Authenticate(context.Background(), token); err != nil {
		t.Errorf("after a restart: %v", err)
	}

	now = t0.Add(2 * time.Hour)
	if _, err := auth.Authenticate(context.Background(), token); !isTokenError(err, "expired") {
		t.Errorf("expired token: %v", err)
	}
}

func isTokenError(err error, want string) bool {
	var te *TokenError
	return errors.As(err, &te) && strings.Contains(err.Error(), want)
}

func TestFolderTokenRejects(t *testing.T) {
	dir := t.TempDir()
	now := t0
	auth, err := LoadOrCreateTokenKey(dir, fixedClock(&now))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := LoadTokenSigner(dir, fixedClock(&now))
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(method jwt.SigningMethod, key any, edit func(*tokenClaims)) string {
		var c tokenClaims
		c.Issuer, c.Audience = tokenIssuer, jwt.ClaimStrings{TokenAudience}
		c.ExpiresAt = jwt.NewNumericDate(t0.Add(time.Hour))
		c.Kubernetes.Namespace, c.Kubernetes.Pod.Name = "ns", "pod"
		edit(&c)
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good, err := signer.Mint("ns", "pod", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for name, tc := range map[string]struct{ token, want string }{
		"empty":             {"", "malformed"},
		"not a JWT":         {"hello", "malformed"},
		"another key":       {sign(jwt.SigningMethodEdDSA, otherKey, func(*tokenClaims) {}), "signature"},
		"alg none":          {sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, func(*tokenClaims) {}), "signing method"},
		"HMAC":              {sign(jwt.SigningMethodHS256, []byte("secret"), func(*tokenClaims) {}), "signing method"},
		"another audience":  {sign(jwt.SigningMethodEdDSA, signer.key, func(c *tokenClaims) { c.Audience = jwt.ClaimStrings{"istio-ca"} }), "audience"},
		"another issuer":    {sign(jwt.SigningMethodEdDSA, signer.key, func(c *tokenClaims) { c.Issuer = "kubernetes" }), "issuer"},
		"no expiry":         {sign(jwt.SigningMethodEdDSA, signer.key, func(c *tokenClaims) { c.ExpiresAt = nil }), "exp"},
		"no pod":            {sign(jwt.SigningMethodEdDSA, signer.key, func(c *tokenClaims) { c.Kubernetes.Pod.Name = "" }), "names no pod"},
		"tampered payload":  {parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2], ""},
		"signature dropped": {parts[0] + "." + parts[1] + ".", "signature"},
	} {
		if _, err := auth.Authenticate(context.Background(), tc.token); !isTokenError(err, tc.want) {
			t.Errorf("%s: %v, want a token error mentioning %q", name, err, tc.want)
		}
	}
}
