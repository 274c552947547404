package authn

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeReviews answers TokenReviews from a table of tokens and counts them.
func fakeReviews(statuses map[string]authenticationv1.TokenReviewStatus, calls *int) *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*calls++
		r := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		st, ok := statuses[r.Spec.Token]
		if !ok {
			st = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		if len(r.Spec.Audiences) != 1 || r.Spec.Audiences[0] != TokenAudience {
			return true, nil, fmt.Errorf("review asked for audiences %v", r.Spec.Audiences)
		}
		r.Status = st
		return true, r, nil
	})
	return c
}

func boundStatus(ns, sa, pod, uid string, audiences ...string) authenticationv1.TokenReviewStatus {
	return authenticationv1.TokenReviewStatus{
		Authenticated: true, Audiences: audiences,
		User: authenticationv1.UserInfo{
			Username: "system:serviceaccount:" + ns + ":" + sa,
			Extra:    map[string]authenticationv1.ExtraValue{podNameExtra: {pod}, podUIDExtra: {uid}},
		},
	}
}

// jwtWithExp is a token-shaped string whose payload says exp (the fake
// API server does not check signatures).
func jwtWithExp(name string, exp time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d,"n":%q}`, exp.Unix(), name)))
	return "e30." + payload + ".sig"
}

func TestTokenReviewer(t *testing.T) {
	now := t0
	good := jwtWithExp("good", now.Add(time.Hour))
	unbound := authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{TokenAudience},
		User: authenticationv1.UserInfo{Username: "system:serviceaccount:shop:web"}}
	calls := 0
	client := fakeReviews(map[string]authenticationv1.TokenReviewStatus{
		good:             boundStatus("shop", "web", "web-1", "uid-1", TokenAudience),
		"other-audience": boundStatus("shop", "web", "web-1", "uid-1", "https://kubernetes.default.svc"),
		"unbound":        unbound,
		"a-user":         {Authenticated: true, Audiences: []string{TokenAudience}, User: authenticationv1.UserInfo{Username: "alice"}},
	}, &calls)
	r := NewTokenReviewer(client, "")
	r.now = func() time.Time { return now }

	c, err := r.Authenticate(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Caller{Namespace: "shop", Pod: "web-1", PodUID: "uid-1", ServiceAccount: "web"}) {
		t.Errorf("caller %+v", c)
	}
	for token, want := range map[string]string{
		"other-audience": "audiences",
		"unbound":        "not bound to a pod",
		"a-user":         "not a service account",
		"forged":         "invalid bearer token",
	} {
		if _, err := r.Authenticate(context.Background(), token); !isTokenError(err, want) {
			t.Errorf("%s: %v, want a token error mentioning %q", token, err, want)
		}
	}

	// A reconnect storm: one review per token, until the cache entry ends.
	calls = 0
	for i := 0; i < 100; i++ {
		if _, err := r.Authenticate(context.Background(), good); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 0 {
		t.Errorf("%d TokenReviews for a token reviewed a moment ago, want 0", calls)
	}
	now = now.Add(reviewCacheTTL + time.Second)
	if _, err := r.Authenticate(context.Background(), good); err != nil || calls != 1 {
		t.Errorf("after the cache time: err %v, %d reviews, want one new review", err, calls)
	}
	// The cache never outlives the token.
	short := jwtWithExp("short", now.Add(time.Minute))
	client2 := fakeReviews(map[string]authenticationv1.TokenReviewStatus{short: boundStatus("shop", "web", "web-1", "uid-1", TokenAudience)}, &calls)
	r2 := NewTokenReviewer(client2, "")
	r2.now = func() time.Time { return now }
	if _, err := r2.Authenticate(context.Background(), short); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	calls = 0
	_, _ = r2.Authenticate(context.Background(), short)
	if calls != 1 {
		t.Errorf("a review was reused past the token's expiry (%d reviews)", calls)
	}
	if exp, ok := tokenExpiry(good); !ok || !strings.Contains(exp.UTC().String(), "2030") {
		t.Errorf("tokenExpiry(%s) = %v, %v", good, exp, ok)
	}
}
