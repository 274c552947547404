package authn

import (
	"context"
	"fmt"
)

// Caller is who a proxy proved to be on its xDS stream: the pod its token
// was issued for. The xds layer then checks that the node id it claims is
// that pod, and that the pod is in the mesh with that service account.
type Caller struct {
	Namespace string
	Pod       string
	// PodUID is set when the proof names it (Kubernetes bound tokens): the
	// pod must be that very pod, not a later one of the same name.
	PodUID string
	// ServiceAccount is set when the proof names it (Kubernetes). A folder
	// token names the pod only; its service account is the Pod's.
	ServiceAccount string
}

func (c Caller) String() string {
	s := "pod " + c.Namespace + "/" + c.Pod
	if c.ServiceAccount != "" {
		s += " (service account " + c.ServiceAccount + ")"
	}
	return s
}

// Authenticator checks a bearer token and says whose it is.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Caller, error)
}

// TokenError is a token that proves nothing: missing, malformed, expired,
// for another audience, or not signed by whom it must be.
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return "token rejected: " + e.Reason }

func tokenErrorf(format string, args ...any) error {
	return &TokenError{Reason: fmt.Sprintf(format, args...)}
}
