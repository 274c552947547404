package authn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Kubernetes mode's proof of identity: the pod's projected ServiceAccount
// token, audience "pilotlight", which the kubelet rotates in its file. The
// API server says whose it is (TokenReview, RBAC tokenreviews create):
// valid, for our audience, of which service account, and (a bound token)
// of which pod, by name and UID. A bound token stops being valid when its
// pod is deleted. As in SPIRE's k8s_psat and Istio, a token that names no
// pod is refused: it could be a long-lived Secret token, usable anywhere.

// The extra fields of a bound token's review.
const (
	podNameExtra = "authentication.kubernetes.io/pod-name"
	podUIDExtra  = "authentication.kubernetes.io/pod-uid"
)

// reviewCacheTTL bounds how long a review is reused: a reconnect storm
// (every sidecar after a control plane restart) should not be as many
// TokenReviews, but a revoked token should not live long either.
const reviewCacheTTL = 5 * time.Minute

// TokenReviewer authenticates projected ServiceAccount tokens.
type TokenReviewer struct {
	client   kubernetes.Interface
	audience string
	now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cachedReview
}

type cachedReview struct {
	caller  Caller
	expires time.Time
}

var _ Authenticator = (*TokenReviewer)(nil)

// NewTokenReviewer checks tokens for audience (TokenAudience when empty).
func NewTokenReviewer(client kubernetes.Interface, audience string) *TokenReviewer {
	if audience == "" {
		audience = TokenAudience
	}
	return &TokenReviewer{client: client, audience: audience, now: time.Now, cache: map[[32]byte]cachedReview{}}
}

// Authenticate reviews a token (or reuses a review of it that is less than
// reviewCacheTTL old and not past the token's expiry).
func (r *TokenReviewer) Authenticate(ctx context.Context, token string) (Caller, error) {
	key := sha256.Sum256([]byte(token))
	now := r.now()
	r.mu.Lock()
	hit, ok := r.cache[key]
	r.mu.Unlock()
	if ok && now.Before(hit.expires) {
		return hit.caller, nil
	}
	review, err := r.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{r.audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return Caller{}, err // the API server is unreachable: not the token's fault, but no proof either
	}
	caller, err := callerOf(review, r.audience)
	if err != nil {
		return Caller{}, err
	}
	expires := now.Add(reviewCacheTTL)
	if exp, ok := tokenExpiry(token); ok && exp.Before(expires) {
		expires = exp
	}
	r.mu.Lock()
	r.cache[key] = cachedReview{caller: caller, expires: expires}
	r.evictExpired(now)
	r.mu.Unlock()
	return caller, nil
}

// callerOf reads the review: authenticated, for our audience, a service
// account's token bound to a pod.
func callerOf(review *authenticationv1.TokenReview, audience string) (Caller, error) {
	st := review.Status
	if !st.Authenticated {
		reason := st.Error
		if reason == "" {
			reason = "not authenticated"
		}
		return Caller{}, tokenErrorf("TokenReview: %s", reason)
	}
	if !contains(st.Audiences, audience) {
		return Caller{}, tokenErrorf("the token is for audiences %v, not %q", st.Audiences, audience)
	}
	rest, ok := strings.CutPrefix(st.User.Username, "system:serviceaccount:")
	ns, sa, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || sa == "" {
		return Caller{}, tokenErrorf("%q is not a service account", st.User.Username)
	}
	pod, uid := first(st.User.Extra[podNameExtra]), first(st.User.Extra[podUIDExtra])
	if pod == "" || uid == "" {
		return Caller{}, tokenErrorf("the token of %s/%s is not bound to a pod (use a projected ServiceAccount token)", ns, sa)
	}
	return Caller{Namespace: ns, Pod: pod, PodUID: uid, ServiceAccount: sa}, nil
}

// tokenExpiry reads exp from a JWT without checking it: only to bound how
// long a review the API server accepted is reused.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}, false
	}
	return time.Unix(claims.Exp, 0), true
}

func (r *TokenReviewer) evictExpired(now time.Time) {
	for k, v := range r.cache {
		if !now.Before(v.expires) {
			delete(r.cache, k)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func first(values authenticationv1.ExtraValue) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}
