package xds

import (
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// stream is one ADS stream: which proxy it serves, and what that proxy
// holds. Everything about a stream is here and nowhere else, so that a
// second stream of the same proxy, or a stream that ends, never touches
// another's state. Fields below id, delta and conn are guarded by
// viewCache.mu.
type stream struct {
	id    int64
	delta bool
	conn  string // the gRPC connection it came on, for the per-connection limit

	// node is the first request's node, fixed for the life of the stream
	// (trimmed to what pilotlight reads). Every later request is handed on
	// to go-control-plane carrying this same pointer, which is how the
	// cache, called with requests only, tells streams apart.
	node   *core.Node
	nodeID string
	entry  *nodeEntry // the proxy's view, shared by its streams

	types map[string]*typeSync

	// Make before break (order.go): when the stream started waiting for
	// the proxy, and whether the grace for that wait is over.
	waiting   bool
	graceOver bool
	stopGrace func() bool
}

// typeSync is the sync state of one resource type on one stream. Only one
// response per type is ever in flight: the next is computed once the proxy
// has answered, against what it then holds. So a proxy that never answers
// costs one response, not a queue of them.
type typeSync struct {
	typeURL string
	watch   *watch // the request go-control-plane waits on, nil when answered
	// names the proxy asked for in its latest request (state of the
	// world); kept: the names of the request go-control-plane is about to
	// hand over, which keepNames took (asked.go).
	names askedNames
	kept  *nameSet
	// Delta: the names the stream subscribed to (subscribed.go), and
	// whether go-control-plane has handed over a request of the type.
	subscribed *subscribedNames
	watched    bool

	offered *offer // handed to go-control-plane, not yet on the wire
	sent    *offer // on the wire, not yet answered
	acked   *offer // the last response the proxy accepted
	nacked  *offer // the last response the proxy rejected, until one is accepted
	nackErr string

	// State of the world: after a NACK the proxy may hold part of the
	// rejected set (Envoy applies a listener or cluster at a time), so what
	// it acked last is not what it holds: send the next good set even if
	// that equals the acked one.
	diverged bool
	// Delta: the version of each resource the proxy holds, by name, as it
	// acked them; unknownVersion after a NACK. rejected: the versions it
	// NACKed, not sent again to it.
	held     *heldVersions
	rejected map[string]string
	// base: a type view the proxy is known to be at, under its current
	// subscription: it holds each wanted resource of base at base's
	// version (or rejected that version), and nothing base does not have.
	// Then what to send for a new target is only what changed between the
	// two (TypeView.changesSince, built once for every proxy), not a walk
	// over every name. nil when unknown (a new stream, a changed
	// subscription, a NACK).
	base *TypeView
	// allHeld (Delta): a type view each of whose resources the proxy holds
	// some version of, found once and kept while held can only grow (reset
	// when a name is dropped or a response NACKed): what make before break
	// asks of the endpoints for every route change (clustersReady).
	allHeld *TypeView
	// subscriptions counts the changes of what the proxy subscribes to:
	// an offer made under an earlier subscription cannot become base.
	subscriptions int

	// upTo: the version of the target type view whose additions and
	// changes the proxy has confirmed; exact: ... and that it holds nothing
	// else (no resource kept for make before break).
	upTo, exact string
	// nackedTarget: the target version the proxy rejected; waiting for it
	// is over (order.go).
	nackedTarget string

	lastSent   string
	lastChange time.Time
}

// unknownVersion: the proxy may hold something under this name, we do not
// know what. It matches no real version, so the resource is sent again.
const unknownVersion = "?"

// watch is the request go-control-plane parked with the cache.
type watch struct {
	id       int64
	sub      cachev3.Subscription
	sotwReq  *cachev3.Request
	sotwOut  chan cachev3.Response
	deltaReq *cachev3.DeltaRequest
	deltaOut chan cachev3.DeltaResponse
}

// offer is one response, from the moment it is computed until the proxy
// has answered it.
type offer struct {
	resp    any       // the *DiscoveryResponse or *DeltaDiscoveryResponse, to recognise it when it is sent
	target  *TypeView // the view's type view it brings the proxy to
	served  *TypeView // state of the world: the set sent (target plus what is kept)
	names   askedNames
	exact   bool // nothing kept beyond target
	version string
	nonce   string
	// Delta: what it adds or changes, and removes; complete: the proxy
	// holds exactly target once it takes them.
	resources []*Resource
	removed   []string
	complete  bool
	// subscriptions: the stream's count when the offer was made.
	subscriptions int
}

func (st *stream) typeState(typeURL string) *typeSync {
	ts := st.types[typeURL]
	if ts == nil {
		ts = &typeSync{typeURL: typeURL}
		if st.delta {
			ts.held, ts.rejected = newHeldVersions(), map[string]string{}
		}
		st.types[typeURL] = ts
	}
	return ts
}

// idle: nothing of this type is on its way to the proxy.
func (ts *typeSync) idle() bool { return ts.sent == nil && ts.offered == nil }

// at tells whether the proxy has confirmed everything target adds and
// changes (a type never asked for is at any target: nothing to wait for).
func (ts *typeSync) at(target *TypeView) bool {
	return ts == nil || (ts.idle() && ts.upTo == target.Version)
}

// exactly: ... and holds nothing beyond it.
func (ts *typeSync) exactly(target *TypeView) bool {
	return ts == nil || (ts.idle() && ts.exact == target.Version)
}

// settled: the proxy has answered target, accepting it or not.
func (ts *typeSync) settled(target *TypeView) bool {
	return ts.at(target) || (ts.idle() && ts.nackedTarget == target.Version)
}

// confirm records that the proxy holds target without a response: it had
// it already. It reports whether that is news.
func (ts *typeSync) confirm(target *TypeView, exact bool) bool {
	e := ""
	if exact {
		e = target.Version
	}
	if ts.upTo == target.Version && ts.exact == e {
		return false
	}
	ts.upTo, ts.exact = target.Version, e
	return true
}
