package xds

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pilotlight/pilotlight/translate"
)

// viewCache answers go-control-plane's watches from per-proxy views. It
// plays the part of go-control-plane's SnapshotCache, with differences
// that matter at scale and under bad config:
//   - responses carry pre-marshaled resources shared by all views, so a
//     change reaching a thousand proxies marshals each resource once;
//   - it tracks, per stream, what the proxy actually holds (what it
//     ACKed, and what a NACK leaves uncertain), so a version a proxy
//     NACKed is not sent to it again, and the next good one always is;
//   - it orders changes make-before-break (order.go).
type viewCache struct {
	log     *slog.Logger
	metrics *metrics
	limits  Limits
	prefix  string // the server's version prefix, for the type views it merges
	// viewFor builds the view of a proxy seen for the first time.
	viewFor func(nodeID string) (*View, error)
	// grace bounds how long make before break waits for a silent proxy;
	// afterFunc is time.AfterFunc (tests replace it).
	grace     time.Duration
	afterFunc func(time.Duration, func()) (stop func() bool)
	now       func() time.Time

	mu        sync.Mutex
	nodes     map[string]*nodeEntry // by node id: the view, and the streams that serve it
	streams   map[int64]*stream     // by go-control-plane's stream id
	byNode    map[*core.Node]*stream
	perConn   map[string]int
	nextWatch int64
	// nameSets are the name lists of state-of-the-world requests (asked.go).
	nameSets *nameSets
}

// nodeEntry is one proxy's view and the streams it is served on (Envoy
// opens one; a restarting Envoy briefly has two).
type nodeEntry struct {
	view    *View
	streams map[*stream]struct{}
}

var _ cachev3.Cache = (*viewCache)(nil)

func newViewCache(log *slog.Logger, m *metrics, limits Limits, prefix string, viewFor func(string) (*View, error)) *viewCache {
	return &viewCache{
		log: log, metrics: m, limits: limits, prefix: prefix, viewFor: viewFor,
		grace: limits.RemovalGrace, now: time.Now,
		afterFunc: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop },
		nodes:     map[string]*nodeEntry{}, streams: map[int64]*stream{}, byNode: map[*core.Node]*stream{}, perConn: map[string]int{},
		nameSets: newNameSets(),
	}
}

// openStream admits a new stream, within the stream limits.
func (c *viewCache) openStream(id int64, conn string, delta bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.streams) >= c.limits.MaxStreams {
		return c.limitHit(limitStreams, codes.ResourceExhausted, "too many xDS streams (limit %d); try another replica or later", c.limits.MaxStreams)
	}
	if conn != "" && c.perConn[conn] >= c.limits.MaxStreamsPerConnection {
		return c.limitHit(limitStreamsPerConnection, codes.ResourceExhausted, "too many xDS streams on this connection (limit %d)", c.limits.MaxStreamsPerConnection)
	}
	if conn != "" {
		c.perConn[conn]++
	}
	c.streams[id] = &stream{id: id, delta: delta, conn: conn, types: map[string]*typeSync{}}
	return nil
}

// bind ties a request to its stream's node. The first request names the
// node (within the size limits, and a node id pilotlight can read); a
// later one may repeat it but not change it. It returns the stream's node,
// which the request is to carry on.
func (c *viewCache) bind(id int64, node *core.Node) (*core.Node, error) {
	c.mu.Lock()
	st := c.streams[id]
	if st == nil {
		c.mu.Unlock()
		return nil, status.Error(codes.Internal, "request on a stream that was not opened")
	}
	if st.node != nil {
		defer c.mu.Unlock()
		if node != nil && node.GetId() != st.nodeID {
			return nil, c.limitHit(limitNodeIDChanged, codes.InvalidArgument,
				"node id changed from %q on this stream; open a new stream for another node", st.nodeID)
		}
		return st.node, nil
	}
	fixed, err := c.firstNode(node)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	st.node, st.nodeID = fixed, fixed.GetId()
	c.byNode[fixed] = st
	e := c.nodes[st.nodeID]
	if e == nil {
		e = &nodeEntry{streams: map[*stream]struct{}{}}
		c.nodes[st.nodeID] = e
	}
	e.streams[st] = struct{}{}
	st.entry = e
	needView := e.view == nil
	c.metrics.connected.Inc()
	c.mu.Unlock()
	c.log.Info("proxy connected", "node", st.nodeID, "stream", id, "delta", st.delta)
	if needView {
		c.ensureView(st.nodeID)
	}
	return fixed, nil
}

// Node is the Envoy node a proxy's stream was bound to, whose metadata
// says how the proxy is wired (translate.ProxyFromNode), or a node with
// only the id when no stream of it is bound.
func (c *viewCache) Node(nodeID string) *core.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.nodes[nodeID]; e != nil {
		for st := range e.streams {
			if st.node != nil {
				return st.node
			}
		}
	}
	return &core.Node{Id: nodeID}
}

// firstNode checks the node of a stream's first request and keeps what
// pilotlight reads of it (trimNode).
func (c *viewCache) firstNode(node *core.Node) (*core.Node, error) {
	if node.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "the first request of a stream must name its node")
	}
	if n := len(node.GetId()); n > c.limits.MaxNodeIDBytes {
		return nil, c.limitHit(limitNodeID, codes.InvalidArgument, "node id of %d bytes (limit %d)", n, c.limits.MaxNodeIDBytes)
	}
	if n := proto.Size(node.GetMetadata()); n > c.limits.MaxNodeMetadataBytes {
		return nil, c.limitHit(limitNodeMetadata, codes.InvalidArgument, "node metadata of %d bytes (limit %d)", n, c.limits.MaxNodeMetadataBytes)
	}
	// The node's metadata says how the proxy is wired (its interception
	// mode): a proxy we cannot serve correctly is refused here, once.
	if _, err := translate.ProxyFromNode(node); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	trimNode(node)
	return node, nil
}

// nodeFieldsKept are the fields of a node that pilotlight reads (the
// version: proxy-status' VERSION column, syncstate.go).
var nodeFieldsKept = map[protoreflect.Name]bool{"id": true, "cluster": true, "metadata": true, "locality": true,
	"user_agent_name": true, "user_agent_version": true, "user_agent_build_version": true}

// trimNode drops, in place, what pilotlight does not read of a node: the
// first request's node is also what go-control-plane keeps for the life of
// the stream, and Envoy's lists every extension it was built with (tens of
// kilobytes a proxy).
func trimNode(node *core.Node) {
	m := node.ProtoReflect()
	var drop []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !nodeFieldsKept[fd.Name()] {
			drop = append(drop, fd)
		}
		return true
	})
	for _, fd := range drop {
		m.Clear(fd)
	}
	m.SetUnknown(nil)
}

// closeStream forgets a stream, and its proxy's view with its last stream.
func (c *viewCache) closeStream(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[id]
	if st == nil {
		return
	}
	delete(c.streams, id)
	if st.conn != "" {
		if c.perConn[st.conn]--; c.perConn[st.conn] <= 0 {
			delete(c.perConn, st.conn)
		}
	}
	if st.stopGrace != nil {
		st.stopGrace()
	}
	if st.node == nil {
		return
	}
	delete(c.byNode, st.node)
	delete(st.entry.streams, st)
	if len(st.entry.streams) == 0 && c.nodes[st.nodeID] == st.entry {
		delete(c.nodes, st.nodeID)
	}
	c.metrics.connected.Dec()
	c.log.Info("proxy disconnected", "node", st.nodeID, "stream", id)
}

// SetView replaces a proxy's view and moves each of its streams on.
func (c *viewCache) SetView(nodeID string, v *View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.nodes[nodeID]
	if e == nil {
		return // its last stream ended meanwhile
	}
	e.view = v
	for st := range e.streams {
		c.advance(st)
	}
}

// Nodes lists the proxies that have a stream open, and their views.
func (c *viewCache) Nodes() map[string]*View {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*View, len(c.nodes))
	for id, e := range c.nodes {
		out[id] = e.view
	}
	return out
}

// Fetch is REST polling, which pilotlight does not serve.
func (c *viewCache) Fetch(context.Context, *cachev3.Request) (cachev3.Response, error) {
	return nil, errors.New("pilotlight serves xDS over gRPC streams only")
}

// ensureView builds the first view of a new proxy, outside the lock since
// translation may take a while. The node is registered first: a snapshot
// applied while we translate then sees it and builds it a view from the
// newer mesh, and ours (from the older one) is dropped. Registering after
// translating would let that apply miss the node and leave it stale.
func (c *viewCache) ensureView(nodeID string) {
	v, err := c.viewFor(nodeID)
	if err != nil {
		c.log.Warn("no view for proxy yet", "node", nodeID, "error", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.nodes[nodeID]; e != nil && e.view == nil {
		e.view = v
		for st := range e.streams {
			c.advance(st)
		}
	}
}

// streamOf finds the stream of a request by its node (see stream.node).
func (c *viewCache) streamOf(node *core.Node) (*stream, error) {
	if st := c.byNode[node]; st != nil {
		return st, nil
	}
	return nil, status.Error(codes.FailedPrecondition, "request on a stream whose node is not known")
}

// responded records that go-control-plane put an offered response on the
// wire, with this nonce.
func (c *viewCache) responded(id int64, typeURL string, resp any, nonce string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[id]
	if st == nil {
		return
	}
	ts := st.types[typeURL]
	if ts == nil || ts.offered == nil || ts.offered.resp != resp {
		return
	}
	o := ts.offered
	// The response itself is not kept: its bytes are the shared resources',
	// and what follows needs only what it brought the proxy to.
	o.nonce, o.resp = nonce, nil
	ts.offered, ts.sent = nil, o
	ts.lastSent, ts.lastChange = o.version, c.now()
}

// cancel is the function go-control-plane calls to drop a parked watch.
func (c *viewCache) cancel(ts *typeSync, id int64) func() {
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if ts.watch != nil && ts.watch.id == id {
			ts.watch = nil
		}
	}
}

func (c *viewCache) newWatch(ts *typeSync, w *watch) func() {
	c.nextWatch++
	w.id = c.nextWatch
	ts.watch = w
	return c.cancel(ts, w.id)
}
