package xds

import (
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// State of the world: a response of listeners or clusters carries the
// whole set of that type, and what it leaves out the proxy removes. A
// response of endpoints, routes or secrets carries only what is new or
// changed for the proxy: Envoy keeps the resources of those types that a
// response leaves out (xDS protocol, "Grouping Resources into Responses"
// and "Deleting Resources"), and drops them when nothing refers to them
// any more. So one endpoint changing sends one ClusterLoadAssignment.

// fullState: a state-of-the-world response of the type must hold every
// resource (absence means removal).
func fullState(typeURL string) bool {
	return typeURL == resourcev3.ListenerType || typeURL == resourcev3.ClusterType
}

// CreateWatch takes a state-of-the-world request: the answer to the
// response in flight (an ACK or a NACK), the names the proxy wants now,
// and a watch to answer when there is something to send.
func (c *viewCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.streamOf(req.GetNode())
	if err != nil {
		return nil, err
	}
	ts := st.typeState(req.GetTypeUrl())
	// go-control-plane drops a response of this type that it had not sent
	// yet when a newer request of the type comes: it will never be sent.
	ts.offered = nil
	if ts.sent != nil && req.GetResponseNonce() == ts.sent.nonce {
		c.answeredSotw(st, ts, req.GetErrorDetail())
	}
	cancel := c.newWatch(ts, &watch{sub: sub, sotwReq: trimmedRequest(req), sotwOut: out})
	ts.names, ts.kept = requestedNames(ts.typeURL, sub, ts.kept), nil
	// What the stream keeps of past requests' names: the newest set, when
	// it is the same (go-control-plane makes a set per request).
	for _, o := range []*offer{ts.acked, ts.sent, ts.nacked} {
		if o != nil && o.names.same(ts.names) {
			o.names = ts.names
		}
	}
	if a := ts.acked; a != nil && !a.names.same(ts.names) {
		ts.upTo, ts.exact = "", "" // it asks for names it was not sent yet
	}
	c.advance(st)
	return cancel, nil
}

// answeredSotw applies the proxy's answer to the response in flight.
func (c *viewCache) answeredSotw(st *stream, ts *typeSync, nack *rpcstatus.Status) {
	o := ts.sent
	ts.sent, ts.lastChange = nil, c.now()
	if nack != nil {
		// What it holds now is the last set it acked, with any part of
		// the rejected one applied before the part that failed.
		ts.nacked, ts.nackErr, ts.diverged, ts.nackedTarget = o, nack.GetMessage(), true, o.target.Version
		c.rejected(st, ts)
		return
	}
	ts.acked, ts.nacked, ts.nackErr, ts.diverged, ts.nackedTarget = o, nil, "", false, ""
	ts.upTo, ts.exact = o.target.Version, exactVersion(o)
}

// stepSotw serves one type of a state-of-the-world stream: the target
// set, plus what the proxy holds that must stay until make before break
// lets it go; unless the proxy holds that already, or rejected exactly
// that. It reports whether the type's confirmed state moved.
func (c *viewCache) stepSotw(st *stream, ts *typeSync, v *View) bool {
	w := ts.watch
	if !ts.idle() || w == nil {
		return false
	}
	target := v.typeView(ts.typeURL)
	serve, exact := target, true
	if a := ts.acked; a != nil && !a.served.sameNames(target) && !c.mayRemove(st, ts.typeURL, v) {
		serve, exact = withKept(c.prefix, target, a.served)
	}
	names := ts.names
	if a := ts.acked; a != nil && !ts.diverged && a.served.Version == serve.Version && a.names.same(names) {
		return ts.confirm(target, exact)
	}
	if n := ts.nacked; n != nil && n.served.Version == serve.Version && n.names.same(names) {
		return false // it rejected exactly this: wait for a change
	}
	if isRouteType(ts.typeURL) && !c.routesMayChange(st, v) {
		return false
	}
	o := &offer{target: target, served: serve, names: names, exact: exact, version: serve.Version}
	resources, send := c.sotwResources(ts, serve, names)
	if !send {
		// The proxy holds everything serve has of what it asks for: as if
		// it had been sent and had ACKed it.
		o.version = ts.acked.version
		ts.acked = o
		return ts.confirm(target, exact)
	}
	resp := &discoverypb.DiscoveryResponse{VersionInfo: serve.Version, TypeUrl: ts.typeURL}
	if resources.encoded != nil && serve.shared() {
		withEncoded(resp, resources.encoded()) // one copy for all (encoded.go)
	} else {
		resp.Resources = resources.anys
	}
	o.resp = resp
	ts.offered = o
	ts.watch = nil
	select {
	case w.sotwOut <- &cachev3.PassthroughResponse{Request: w.sotwReq, DiscoveryResponse: resp}:
	default:
		// Cannot happen: the stream's channel has room for one response
		// per type, and a type has one response at a time.
		c.log.Error("xds response channel full; response dropped", "type", ts.typeURL, "node", st.nodeID)
		ts.offered = nil
	}
	return false
}

// sotwResources are the resources of a response that brings the proxy to
// serve: all of them (of the names it asks for) for listeners and
// clusters, the first time, and after a NACK (it may hold any part of
// what it rejected); otherwise only those new or changed since what it
// acked, or that it did not ask for then. send is false when there is
// nothing to send: the proxy holds all of it already. A set shared by
// every stream in the same case is marshaled once (encoded is set).
func (c *viewCache) sotwResources(ts *typeSync, serve *TypeView, names askedNames) (resources *resourceSet, send bool) {
	a := ts.acked
	if fullState(ts.typeURL) || a == nil || ts.diverged {
		if names.all(serve) {
			return serve.all(), true
		}
		var anys []*anypb.Any
		for _, r := range serve.sortedResources() {
			if names.has(r.Name) {
				anys = append(anys, r.Any)
			}
		}
		return &resourceSet{anys: anys}, true
	}
	if names.all(serve) && a.names.all(a.served) {
		resources = serve.anysSince(a.served)
		return resources, len(resources.anys) > 0
	}
	var anys []*anypb.Any
	for _, r := range serve.sortedResources() {
		if !names.has(r.Name) {
			continue
		}
		if held := a.served.Resources[r.Name]; held != nil && held.Version == r.Version && a.names.has(r.Name) {
			continue
		}
		anys = append(anys, r.Any)
	}
	return &resourceSet{anys: anys}, len(anys) > 0
}

func exactVersion(o *offer) string {
	if o.exact {
		return o.target.Version
	}
	return ""
}

// withKept is target plus the resources of held that target dropped, at
// the version the proxy holds; and whether there were none.
func withKept(prefix string, target, held *TypeView) (*TypeView, bool) {
	if held.sameNames(target) {
		return target, true
	}
	var kept []*Resource
	for _, r := range held.sortedResources() {
		if target.Resources[r.Name] == nil {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		return target, true
	}
	all := make([]*Resource, 0, len(target.sorted)+len(kept))
	all = append(all, target.sorted...)
	return newTypeView(prefix, append(all, kept...)), false
}
