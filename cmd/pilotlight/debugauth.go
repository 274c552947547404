package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// /debug/* lists every proxy's pod, namespace and address and the mesh's
// invalid config: not for anyone who can reach the HTTP port (/metrics,
// /healthz and /readyz stay open for scrapers and probes). It is served to
//   - a peer on this host: a loopback address, or the very address it
//     reached us at (a local process dialing the machine's own IP): the
//     local user in folder mode, `kubectl port-forward` or a shell in the
//     pod in a cluster;
//   - in a cluster, also a caller whose bearer token the API server
//     authenticates (TokenReview) and who may `get` that path
//     (SubjectAccessReview on the non-resource URL, as for
//     `kubectl get --raw /debug/proxies` against the API server). Grant it
//     with a ClusterRole rule {nonResourceURLs: ["/debug/*"], verbs: [get]}.

// debugAuthorizer decides whether a token's holder may read a debug path.
type debugAuthorizer interface {
	allowed(ctx context.Context, token, path string) (bool, string, error)
}

// guardDebug wraps the HTTP handler: /debug/ paths need a loopback peer or
// (with an authorizer) an allowed bearer token.
func guardDebug(next http.Handler, auth debugAuthorizer, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/debug/") || localPeer(r) {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if auth == nil {
			http.Error(w, "debug endpoints are served to clients on this host only", http.StatusForbidden)
			return
		}
		if !ok || token == "" {
			http.Error(w, "debug endpoints need a client on this host or a bearer token allowed to get this path", http.StatusForbidden)
			return
		}
		allowed, who, err := auth.allowed(r.Context(), token, r.URL.Path)
		switch {
		case err != nil:
			log.Warn("debug request not authorized", "path", r.URL.Path, "error", err)
			http.Error(w, "cannot check the token", http.StatusForbidden)
		case !allowed:
			http.Error(w, fmt.Sprintf("%s may not get %s", who, r.URL.Path), http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// localPeer: the client is on this host. Its address is loopback, or the
// server's own address on the connection, which only the kernel of this
// network namespace gives a client as its source.
func localPeer(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lhost, _, err := net.SplitHostPort(local.String())
	return err == nil && net.ParseIP(lhost).Equal(ip)
}

// kubeDebugAuthorizer asks the API server: TokenReview, then
// SubjectAccessReview (RBAC: tokenreviews and subjectaccessreviews create).
type kubeDebugAuthorizer struct{ client kubernetes.Interface }

func (k kubeDebugAuthorizer) allowed(ctx context.Context, token, path string) (bool, string, error) {
	review, err := k.client.AuthenticationV1().TokenReviews().Create(ctx,
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return false, "", err
	}
	if !review.Status.Authenticated {
		return false, "an unauthenticated caller", nil
	}
	u := review.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := k.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Username, Groups: u.Groups, UID: u.UID, Extra: extra,
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: "get"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, u.Username, err
	}
	return sar.Status.Allowed, u.Username, nil
}
