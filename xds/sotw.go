package xds

import (
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
)

// State of the world: every response of a type carries the whole set of
// that type (for endpoints and routes: of the names the proxy asked for).

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
	cancel := c.newWatch(ts, &watch{sub: sub, sotwReq: req, sotwOut: out})
	ts.names = requestedNames(ts.typeURL, sub)
	if a := ts.acked; a != nil && !sameNameSet(a.names, ts.names) {
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
	names := requestedNames(ts.typeURL, w.sub)
	if a := ts.acked; a != nil && !ts.diverged && a.served.Version == serve.Version && sameNameSet(a.names, names) {
		return ts.confirm(target, exact)
	}
	if n := ts.nacked; n != nil && n.served.Version == serve.Version && sameNameSet(n.names, names) {
		return false // it rejected exactly this: wait for a change
	}
	if isRouteType(ts.typeURL) && !c.routesMayChange(st, v) {
		return false
	}
	resp := &discoverypb.DiscoveryResponse{VersionInfo: serve.Version, TypeUrl: ts.typeURL}
	for _, name := range serve.sortedNames() {
		if names != nil {
			if _, asked := names[name]; !asked {
				continue
			}
		}
		resp.Resources = append(resp.Resources, serve.Resources[name].Any)
	}
	ts.offered = &offer{resp: resp, target: target, served: serve, names: names, exact: exact, version: serve.Version}
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

// requestedNames are the names a request asks for; nil for all of them
// (Envoy always wants every listener and cluster).
func requestedNames(typeURL string, sub cachev3.Subscription) map[string]struct{} {
	if typeURL == resourcev3.ListenerType || typeURL == resourcev3.ClusterType || sub.IsWildcard() {
		return nil
	}
	return sub.SubscribedResources()
}

func sameNameSet(a, b map[string]struct{}) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return sameSet(a, b)
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
	for _, name := range held.sortedNames() {
		if target.Resources[name] == nil {
			kept = append(kept, held.Resources[name])
		}
	}
	if len(kept) == 0 {
		return target, true
	}
	all := make([]*Resource, 0, len(target.Resources)+len(kept))
	for _, name := range target.sortedNames() {
		all = append(all, target.Resources[name])
	}
	return newTypeView(prefix, append(all, kept...)), false
}
