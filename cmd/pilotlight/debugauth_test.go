package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeAPIServer authenticates token "alice" and "bob", and lets only
// alice get /debug/ paths.
func fakeAPIServer() *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		if tok := r.Spec.Token; tok == "alice" || tok == "bob" {
			r.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: tok}}
		}
		return true, r, nil
	})
	c.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		na := r.Spec.NonResourceAttributes
		r.Status.Allowed = r.Spec.User == "alice" && na != nil && na.Verb == "get" && na.Path == "/debug/proxies"
		return true, r, nil
	})
	return c
}

func TestGuardDebug(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster := guardDebug(ok, kubeDebugAuthorizer{client: fakeAPIServer()}, log)
	folder := guardDebug(ok, nil, log)
	for _, tc := range []struct {
		name    string
		h       http.Handler
		remote  string
		path    string
		token   string
		allowed bool
		local   string // the server's address on the connection
	}{
		{"metrics are open", cluster, "10.1.2.3:5000", "/metrics", "", true, ""},
		{"readyz is open", cluster, "10.1.2.3:5000", "/readyz", "", true, ""},
		{"loopback reads debug", cluster, "127.0.0.1:5000", "/debug/proxies", "", true, ""},
		{"IPv6 loopback reads debug", cluster, "[::1]:5000", "/debug/problems", "", true, ""},
		{"a pod without a token", cluster, "10.1.2.3:5000", "/debug/proxies", "", false, ""},
		{"a forged token", cluster, "10.1.2.3:5000", "/debug/proxies", "mallory", false, ""},
		{"a user RBAC allows", cluster, "10.1.2.3:5000", "/debug/proxies", "alice", true, ""},
		{"a user RBAC does not allow", cluster, "10.1.2.3:5000", "/debug/proxies", "bob", false, ""},
		{"allowed for one path only", cluster, "10.1.2.3:5000", "/debug/problems", "alice", false, ""},
		{"folder mode: loopback", folder, "127.0.0.1:5000", "/debug/proxies", "", true, ""},
		{"folder mode: any other peer", folder, "10.1.2.3:5000", "/debug/proxies", "alice", false, ""},
		{"folder mode: this host, dialing its own address", folder, "10.244.0.1:40000", "/debug/proxies", "", true, "10.244.0.1:15014"},
		{"folder mode: another host to that address", folder, "10.244.0.9:40000", "/debug/proxies", "", false, "10.244.0.1:15014"},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.RemoteAddr = tc.remote
		if tc.local != "" {
			addr, err := net.ResolveTCPAddr("tcp", tc.local)
			if err != nil {
				t.Fatal(err)
			}
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, addr))
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, req)
		if got := rec.Code == http.StatusOK; got != tc.allowed {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body.String())
		}
	}
}
