package xds

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/translate"
)

// Stream authentication. A stream gets nothing (no config, no key) until it
// has proven which pod's proxy it is:
//
//  1. at stream open, the bearer token in its "authorization" metadata is
//     kept (Envoy sends it from a file with file_based_metadata, see
//     translate/bootstrap.go);
//  2. at its first request, which carries the node id (and after the
//     cache's checks of its shape and size), a stream without a token is
//     refused; else the token is
//     checked (authn: a folder token, or a TokenReview in a cluster) and
//     the pod it names must be the pod of the node id, be in the mesh, and
//     have the service account (and UID) the token says;
//  3. only then does the cache bind the node id to the stream (a later
//     request naming another node ends the stream) and build its view.
//
// So ACKs, NACKs and views only ever belong to the identity a stream
// proved, and the workload certificate of a proxy (secrets.go) is issued
// for the service account of the pod it proved to be.

// Authenticator checks a stream's bearer token. authn.LocalTokens (folder
// mode) and authn.TokenReviewer (Kubernetes) satisfy it.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (authn.Caller, error)
}

// streamAuth binds streams to proven identities.
type streamAuth struct {
	authn       Authenticator
	trustDomain string
	snapshot    func() *discovery.Snapshot
	// forget is called when the last stream of a proven node closes.
	forget   func(nodeID string)
	log      *slog.Logger
	failures *prometheus.CounterVec
	// podsOutsideMesh lets a proven caller in without a pod in the
	// snapshot, as service account "default". Only this package's tests set
	// it, for streams of made-up nodes; auth_test checks the real rule.
	podsOutsideMesh bool

	mu      sync.Mutex
	streams map[int64]*authStream
	nodes   map[string]*provenNode
}

type authStream struct {
	ctx     context.Context
	token   string
	noToken error  // why there is no token
	node    string // the node id the stream proved, "" until its first request
}

// provenNode is a node id that at least one open stream proved.
type provenNode struct {
	identity authn.Identity
	streams  int
}

func newStreamAuth(a Authenticator, trustDomain string, snapshot func() *discovery.Snapshot, log *slog.Logger, reg prometheus.Registerer) *streamAuth {
	if trustDomain == "" {
		trustDomain = authn.DefaultTrustDomain
	}
	sa := &streamAuth{
		authn: a, trustDomain: trustDomain, snapshot: snapshot, log: log, forget: func(string) {},
		streams: map[int64]*authStream{}, nodes: map[string]*provenNode{},
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_auth_failures_total",
			Help: "xDS streams refused because they proved no identity, by gRPC status code.",
		}, []string{"code"}),
	}
	reg.MustRegister(sa.failures)
	return sa
}

// opened keeps the stream's context and bearer token (or why it has
// none); the first request is refused without one.
func (a *streamAuth) opened(ctx context.Context, streamID int64) {
	token, err := bearerToken(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.streams[streamID] = &authStream{ctx: ctx, token: token, noToken: err}
}

// check authenticates a stream at its first request and holds it to that
// node id afterwards.
func (a *streamAuth) check(streamID int64, node *core.Node) error {
	a.mu.Lock()
	s := a.streams[streamID]
	a.mu.Unlock()
	if s == nil {
		return a.refuse(codes.Unauthenticated, "stream has no credentials", "stream", streamID)
	}
	claimed := node.GetId()
	if s.node != "" {
		return nil // proven; the cache holds the stream to its node (bind)
	}
	if claimed == "" {
		return a.refuse(codes.InvalidArgument, "the first request of a stream must carry the node id", "stream", streamID)
	}
	if s.noToken != nil {
		return a.refuse(codes.Unauthenticated, s.noToken.Error(), "node", claimed)
	}
	proxy, err := translate.ParseNodeID(claimed)
	if err != nil {
		return a.refuse(codes.InvalidArgument, err.Error(), "node", claimed)
	}
	if a.authn == nil {
		return a.refuse(codes.Unauthenticated, "the server has no authenticator configured", "node", claimed)
	}
	caller, err := a.authn.Authenticate(s.ctx, s.token)
	if err != nil {
		return a.refuse(codes.Unauthenticated, err.Error(), "node", claimed)
	}
	snap := a.snapshot()
	if snap == nil {
		return a.refuse(codes.Unavailable, "no mesh snapshot yet; retry", "node", claimed)
	}
	pod := snap.Pod(proxy.Namespace, proxy.PodName)
	if pod == nil && a.podsOutsideMesh {
		pod = &discovery.Pod{Meta: discovery.Meta{Name: proxy.PodName, Namespace: proxy.Namespace}, ServiceAccount: "default"}
	}
	if err := matchCaller(caller, proxy, pod); err != nil {
		return a.refuse(codes.PermissionDenied, err.Error(), "node", claimed, "caller", caller.String())
	}
	id := authn.Identity{TrustDomain: a.trustDomain, Namespace: pod.Namespace, ServiceAccount: pod.ServiceAccount}
	a.bind(streamID, s, claimed, id)
	a.log.Info("proxy authenticated", "node", claimed, "identity", id.SpiffeID(), "stream", streamID)
	return nil
}

func (a *streamAuth) bind(streamID int64, s *authStream, nodeID string, id authn.Identity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.streams[streamID] != s {
		return // closed meanwhile
	}
	s.node = nodeID
	n := a.nodes[nodeID]
	if n == nil {
		n = &provenNode{}
		a.nodes[nodeID] = n
	}
	n.identity = id
	n.streams++
}

// closed forgets a stream, and its node once no stream is left for it.
func (a *streamAuth) closed(streamID int64) {
	a.mu.Lock()
	s := a.streams[streamID]
	delete(a.streams, streamID)
	gone := ""
	if s != nil && s.node != "" {
		if n := a.nodes[s.node]; n != nil {
			if n.streams--; n.streams <= 0 {
				delete(a.nodes, s.node)
				gone = s.node
			}
		}
	}
	a.mu.Unlock()
	if gone != "" {
		a.forget(gone)
	}
}

// identity is the proven identity of a node, and false when no open
// stream proved it.
func (a *streamAuth) identity(nodeID string) (authn.Identity, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.nodes[nodeID]
	if n == nil {
		return authn.Identity{}, false
	}
	return n.identity, true
}

func (a *streamAuth) refuse(code codes.Code, msg string, logArgs ...any) error {
	a.failures.WithLabelValues(code.String()).Inc()
	a.log.Warn("xds stream refused: "+msg, append(logArgs, "code", code.String())...)
	return status.Error(code, "pilotlight: "+msg)
}

// matchCaller checks that a proven caller is the pod its node id claims,
// and that the pod is in the mesh as the token describes it.
func matchCaller(c authn.Caller, p translate.Proxy, pod *discovery.Pod) error {
	switch {
	case c.Namespace != p.Namespace || c.Pod != p.PodName:
		return errors.New("the token is for pod " + c.Namespace + "/" + c.Pod + ", the node id claims pod " + p.Namespace + "/" + p.PodName)
	case pod == nil:
		return errors.New("pod " + p.Namespace + "/" + p.PodName + " is not in the mesh")
	case c.PodUID != "" && c.PodUID != pod.UID:
		return errors.New("the token is for another pod named " + p.Namespace + "/" + p.PodName + " (uid " + c.PodUID + ", the mesh has " + pod.UID + ")")
	case c.ServiceAccount != "" && c.ServiceAccount != pod.ServiceAccount:
		return errors.New("the token is for service account " + c.ServiceAccount + ", pod " + pod.Key() + " runs as " + pod.ServiceAccount)
	}
	return nil
}

// bearerToken reads "authorization: Bearer <token>" from gRPC metadata.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return "", errors.New("no credentials: send a bearer token in the authorization metadata (see `pilotlight bootstrap --help`)")
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("the authorization metadata is not \"Bearer <token>\"")
	}
	return strings.TrimSpace(token), nil
}

// checkFirstNode runs the cache's checks of a stream's first node (its
// size, and a node id pilotlight can read) without binding it, so that the
// proof comes between them and bind. Nil once the stream is bound.
func (c *viewCache) checkFirstNode(id int64, node *core.Node) error {
	c.mu.Lock()
	st := c.streams[id]
	bound := st == nil || st.node != nil
	c.mu.Unlock()
	if bound {
		return nil // bind says what is wrong
	}
	_, err := c.firstNode(node)
	return err
}
