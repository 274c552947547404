package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Folder mode's proof of identity. There is no kubelet to project a
// ServiceAccount token, so `pilotlight bootstrap` mints one: a JWT signed
// with an Ed25519 key from the state folder, naming one pod, for audience
// "pilotlight", valid for a short while. Envoy sends it on every xDS
// stream from a 0600 file (gRPC's file_based_metadata call credentials
// re-read the file for each new stream, so re-running bootstrap before it
// expires renews it in place). `pilotlight serve` checks the signature,
// audience and expiry here, and the xds layer checks the pod against the
// node id and the folder's Pod.

// TokenAudience is the audience proxy tokens are for, in both modes: the
// projected ServiceAccount token's audience in a cluster, and the aud of a
// folder token.
const TokenAudience = "pilotlight"

// DefaultTokenTTL is how long a folder token lasts.
const DefaultTokenTTL = 24 * time.Hour

const (
	tokenIssuer  = "pilotlight"
	tokenKeyFile = "token-key.pem"
)

// tokenClaims: the registered claims, plus the pod in the shape of a
// Kubernetes bound token's "kubernetes.io" claim.
type tokenClaims struct {
	jwt.RegisteredClaims
	Kubernetes struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			Name string `json:"name"`
		} `json:"pod"`
	} `json:"kubernetes.io"`
}

// TokenSigner mints folder tokens.
type TokenSigner struct {
	key ed25519.PrivateKey
	now func() time.Time
}

// LoadTokenSigner reads the state folder's token key, which `serve`
// creates (LoadOrCreateTokenKey).
func LoadTokenSigner(stateDir string, now func() time.Time) (*TokenSigner, error) {
	key, err := readTokenKey(filepath.Join(stateDir, tokenKeyFile))
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &TokenSigner{key: key, now: now}, nil
}

// Mint signs a token for pod namespace/name, valid ttl from now.
func (s *TokenSigner) Mint(namespace, pod string, ttl time.Duration) (string, error) {
	if namespace == "" || pod == "" {
		return "", errors.New("a token needs a namespace and a pod name")
	}
	now := s.now()
	var c tokenClaims
	c.Issuer = tokenIssuer
	c.Subject = namespace + "/" + pod
	c.Audience = jwt.ClaimStrings{TokenAudience}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now.Add(-clockSkew))
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	c.Kubernetes.Namespace = namespace
	c.Kubernetes.Pod.Name = pod
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.key)
}

// WriteToken writes a token to a file only its owner can read.
func WriteToken(path, token string) error { return writeFileAtomic(path, []byte(token), 0o600) }

// TokenPath is where `pilotlight bootstrap` writes the token of a pod.
func TokenPath(stateDir, namespace, pod string) string {
	return filepath.Join(stateDir, "tokens", namespace+"."+pod+".token")
}

// LocalTokens authenticates folder tokens.
type LocalTokens struct {
	pub ed25519.PublicKey
	now func() time.Time
}

var _ Authenticator = (*LocalTokens)(nil)

// LoadOrCreateTokenKey returns the authenticator of a state folder's
// tokens, creating the signing key on first use.
func LoadOrCreateTokenKey(stateDir string, now func() time.Time) (*LocalTokens, error) {
	if now == nil {
		now = time.Now
	}
	path := filepath.Join(stateDir, tokenKeyFile)
	key, err := readTokenKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createTokenKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("token key %s: %w", path, err)
	}
	return &LocalTokens{pub: key.Public().(ed25519.PublicKey), now: now}, nil
}

// Authenticate checks a folder token: signed by the state folder's key
// (EdDSA only: a token cannot pick its own algorithm), for audience
// "pilotlight", from issuer "pilotlight", and not expired.
func (a *LocalTokens) Authenticate(_ context.Context, token string) (Caller, error) {
	var c tokenClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithAudience(TokenAudience),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		return Caller{}, tokenErrorf("%v", err)
	}
	if c.Kubernetes.Namespace == "" || c.Kubernetes.Pod.Name == "" {
		return Caller{}, tokenErrorf("the token names no pod")
	}
	return Caller{Namespace: c.Kubernetes.Namespace, Pod: c.Kubernetes.Pod.Name}, nil
}

func readTokenKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("want an Ed25519 key, got %T", k)
	}
	return key, nil
}

// createTokenKey writes a new key with link(2), which fails if the file
// exists: two processes that race both end up with the first one's key.
func createTokenKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readTokenKey(path)
		}
		return nil, err
	}
	return key, nil
}
