package xds

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// viewCache answers go-control-plane's watches from per-proxy views. It
// plays the part of go-control-plane's SnapshotCache, with two differences
// that matter at scale and under bad config:
//   - responses carry pre-marshaled resources shared by all views, so a
//     change reaching a thousand proxies marshals each resource once;
//   - a version a proxy NACKed is not sent again to it (state of the world
//     would otherwise resend it on every request, in a loop).
type viewCache struct {
	log    *slog.Logger
	status *statusTracker
	// viewFor builds the view of a proxy seen for the first time.
	viewFor func(nodeID string) (*View, error)

	mu     sync.Mutex
	nodes  map[string]*nodeState
	nextID int64
}

type nodeState struct {
	// node is the Envoy node of the proxy's latest request: its metadata
	// says how the proxy is wired (translate.ProxyFromNode).
	node  *corev3.Node
	view  *View
	sotw  map[int64]*sotwWatch
	delta map[int64]*deltaWatch
	// requested holds, per type, the resource names the proxy asked for in
	// the request we last answered (state of the world).
	requested map[string]map[string]struct{}
}

type sotwWatch struct {
	req *cachev3.Request
	out chan cachev3.Response
}

type deltaWatch struct {
	req *cachev3.DeltaRequest
	sub cachev3.Subscription
	out chan cachev3.DeltaResponse
}

var _ cachev3.Cache = (*viewCache)(nil)

func newViewCache(log *slog.Logger, status *statusTracker, viewFor func(string) (*View, error)) *viewCache {
	return &viewCache{log: log, status: status, viewFor: viewFor, nodes: map[string]*nodeState{}}
}

// SetView replaces a proxy's view and answers its open watches.
func (c *viewCache) SetView(nodeID string, v *View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(nodeID)
	n.view = v
	for id, w := range n.sotw {
		if resp := c.sotwResponse(nodeID, n, w.req); resp != nil {
			delete(n.sotw, id)
			c.send(w.out, resp)
		}
	}
	for id, w := range n.delta {
		if resp := deltaResponse(n, w.req, w.sub); resp != nil {
			delete(n.delta, id)
			c.sendDelta(w.out, resp)
		}
	}
}

// Nodes lists the proxies that have asked for config and their views.
func (c *viewCache) Nodes() map[string]*View {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*View, len(c.nodes))
	for id, n := range c.nodes {
		out[id] = n.view
	}
	return out
}

// remember keeps the node of a proxy's request (go-control-plane fills it
// in on every request of a stream).
func (c *viewCache) remember(node *corev3.Node) {
	if node == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.node(node.GetId()).node = node
}

// Node is the Envoy node a proxy last sent, or one with only the id.
func (c *viewCache) Node(nodeID string) *corev3.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[nodeID]; n != nil && n.node != nil {
		return n.node
	}
	return &corev3.Node{Id: nodeID}
}

// Forget drops a proxy that has no stream left.
func (c *viewCache) Forget(nodeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nodes, nodeID)
}

// CreateWatch answers a state-of-the-world request now if the proxy lacks
// something, or parks it until its view changes.
func (c *viewCache) CreateWatch(req *cachev3.Request, _ cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	nodeID := req.GetNode().GetId()
	c.remember(req.GetNode())
	c.ensureView(nodeID)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(nodeID)
	if resp := c.sotwResponse(nodeID, n, req); resp != nil {
		c.send(out, resp)
		return func() {}, nil
	}
	c.nextID++
	id := c.nextID
	n.sotw[id] = &sotwWatch{req: req, out: out}
	return c.cancel(nodeID, func(n *nodeState) { delete(n.sotw, id) }), nil
}

// CreateDeltaWatch answers an incremental request with the resources whose
// version the proxy does not have, and the names it should forget.
func (c *viewCache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	nodeID := req.GetNode().GetId()
	c.remember(req.GetNode())
	c.ensureView(nodeID)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(nodeID)
	if resp := deltaResponse(n, req, sub); resp != nil {
		c.sendDelta(out, resp)
		return func() {}, nil
	}
	c.nextID++
	id := c.nextID
	n.delta[id] = &deltaWatch{req: req, sub: sub, out: out}
	return c.cancel(nodeID, func(n *nodeState) { delete(n.delta, id) }), nil
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
	c.mu.Lock()
	known := c.node(nodeID).view != nil
	c.mu.Unlock()
	if known {
		return
	}
	v, err := c.viewFor(nodeID)
	if err != nil {
		c.log.Warn("no view for proxy yet", "node", nodeID, "error", err)
		return
	}
	c.mu.Lock()
	if n := c.nodes[nodeID]; n != nil && n.view == nil {
		n.view = v
	}
	c.mu.Unlock()
}

func (c *viewCache) node(nodeID string) *nodeState {
	n := c.nodes[nodeID]
	if n == nil {
		n = &nodeState{sotw: map[int64]*sotwWatch{}, delta: map[int64]*deltaWatch{}, requested: map[string]map[string]struct{}{}}
		c.nodes[nodeID] = n
	}
	return n
}

func (c *viewCache) cancel(nodeID string, drop func(*nodeState)) func() {
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if n := c.nodes[nodeID]; n != nil {
			drop(n)
		}
	}
}

// send never blocks: the server's response channel has room for one
// response per type, and a type has at most one open watch.
func (c *viewCache) send(out chan cachev3.Response, resp cachev3.Response) {
	select {
	case out <- resp:
	default:
		c.log.Error("xds response channel full; response dropped", "type", resp.GetRequest().GetTypeUrl())
	}
}

func (c *viewCache) sendDelta(out chan cachev3.DeltaResponse, resp cachev3.DeltaResponse) {
	select {
	case out <- resp:
	default:
		c.log.Error("delta xds response channel full; response dropped", "type", resp.GetDeltaRequest().GetTypeUrl())
	}
}

// sotwResponse is nil when the proxy already has its view of the type: same
// version and the same names asked for, or the current version is one the
// proxy rejected (it keeps its last good config; we wait for a change).
func (c *viewCache) sotwResponse(nodeID string, n *nodeState, req *cachev3.Request) cachev3.Response {
	if n.view == nil {
		return nil
	}
	typeURL := req.GetTypeUrl()
	tv := n.view.Types[typeURL]
	if tv == nil {
		return nil
	}
	names := nameSet(req.GetResourceNames())
	sameNames := sameSet(names, n.requested[typeURL])
	if sameNames && (req.GetVersionInfo() == tv.Version || c.status.rejected(nodeID, typeURL, tv.Version)) {
		return nil
	}
	n.requested[typeURL] = names
	resp := &discoverypb.DiscoveryResponse{VersionInfo: tv.Version, TypeUrl: typeURL}
	returned := map[string]string{}
	for _, name := range tv.sortedNames() {
		if !wildcardType(typeURL) && len(names) > 0 {
			if _, asked := names[name]; !asked {
				continue
			}
		}
		resp.Resources = append(resp.Resources, tv.Resources[name].Any)
		returned[name] = tv.Version
	}
	return &cachev3.PassthroughResponse{Request: req, DiscoveryResponse: resp, ReturnedResources: returned}
}

// wildcardType: Envoy always wants every listener and cluster.
func wildcardType(typeURL string) bool {
	return typeURL == resourcev3.ListenerType || typeURL == resourcev3.ClusterType
}

// deltaResponse lists what changed since what the proxy reported knowing.
func deltaResponse(n *nodeState, req *cachev3.DeltaRequest, sub cachev3.Subscription) cachev3.DeltaResponse {
	if n.view == nil {
		return nil
	}
	tv := n.view.Types[req.GetTypeUrl()]
	if tv == nil {
		return nil
	}
	known := sub.ReturnedResources()
	subscribed := sub.SubscribedResources()
	wants := func(name string) bool {
		_, ok := subscribed[name]
		return sub.IsWildcard() || ok
	}
	resp := &discoverypb.DeltaDiscoveryResponse{TypeUrl: req.GetTypeUrl(), SystemVersionInfo: tv.Version}
	next := make(map[string]string, len(tv.Resources))
	for name, version := range known {
		next[name] = version
	}
	for _, name := range tv.sortedNames() {
		r := tv.Resources[name]
		if !wants(name) || known[name] == r.Version {
			continue
		}
		resp.Resources = append(resp.Resources, &discoverypb.Resource{Name: name, Version: r.Version, Resource: r.Any})
		next[name] = r.Version
	}
	for _, name := range slices.Sorted(maps.Keys(known)) {
		if _, still := tv.Resources[name]; !still {
			resp.RemovedResources = append(resp.RemovedResources, name)
			delete(next, name)
		}
	}
	if len(resp.Resources) == 0 && len(resp.RemovedResources) == 0 {
		return nil
	}
	return &cachev3.DeltaPassthroughResponse{DeltaRequest: req, DeltaDiscoveryResponse: resp, NextVersionMap: next}
}
