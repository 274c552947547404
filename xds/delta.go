package xds

import (
	"slices"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
)

// Delta (incremental) xDS: a response carries the resources that are new
// or changed for the proxy, by name and version, and the names it should
// forget.

// CreateDeltaWatch takes an incremental request: what the proxy says it
// holds (on its first request of a type), what it stops wanting, the
// answer to the response in flight, and a watch to answer.
func (c *viewCache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.streamOf(req.GetNode())
	if err != nil {
		return nil, err
	}
	ts := st.typeState(req.GetTypeUrl())
	if !ts.watched {
		// A reconnecting Envoy says what it still holds: resources at
		// those versions are not sent again.
		ts.watched = true
		for name, version := range req.GetInitialResourceVersions() {
			ts.held.set(name, version)
		}
		ts.base, ts.subscriptions = nil, ts.subscriptions+1
	}
	// What the request subscribes to and unsubscribes from was applied as
	// it came in (keepDeltaNames, subscribed.go).
	if ts.sent != nil && req.GetResponseNonce() == ts.sent.nonce {
		c.answeredDelta(st, ts, req.GetErrorDetail(), sub)
	}
	cancel := c.newWatch(ts, &watch{sub: sub, deltaReq: trimmedDeltaRequest(req), deltaOut: out})
	c.advance(st)
	return cancel, nil
}

// answeredDelta applies the proxy's answer to the response in flight. After
// a NACK, every resource of that response is uncertain: the proxy may have
// taken some and not others. They are marked unknown, so that the next
// version of each is sent whatever it is, and the rejected versions are
// kept, so that none of them is sent again. A resource the proxy stopped
// wanting after the response left (sub is its subscription now) is not
// held: it dropped it.
func (c *viewCache) answeredDelta(st *stream, ts *typeSync, nack *rpcstatus.Status, sub cachev3.Subscription) {
	o := ts.sent
	ts.sent, ts.lastChange = nil, c.now()
	defer func() { o.resources, o.removed = nil, nil }() // applied to held (and rejected)
	if o.subscriptions != ts.subscriptions {
		// Offers name only what was wanted then: filter only when the
		// subscription changed since (a walk of thousands of names less
		// per response otherwise).
		o.resources = slices.DeleteFunc(o.resources, func(r *Resource) bool { return !ts.wants(sub, r.Name) })
	}
	if nack != nil {
		for _, r := range o.resources {
			ts.held.set(r.Name, unknownVersion)
			ts.rejected[r.Name] = r.Version
		}
		for _, name := range o.removed {
			ts.held.set(name, unknownVersion)
		}
		ts.nacked, ts.nackErr, ts.nackedTarget = o, nack.GetMessage(), o.target.Version
		ts.base, ts.allHeld = nil, nil
		c.rejected(st, ts)
		return
	}
	if o.complete && o.subscriptions == ts.subscriptions {
		// It holds exactly the target now: the cold sync, and each change
		// sent on top of a view it held whole. Held as that view, shared
		// with every stream at it (held.go).
		ts.held.holdWhole(o.target)
		clear(ts.rejected)
	} else {
		for _, r := range o.resources {
			ts.held.set(r.Name, r.Version)
			delete(ts.rejected, r.Name)
		}
		for _, name := range o.removed {
			ts.held.remove(name)
			delete(ts.rejected, name)
			ts.allHeld = nil
		}
	}
	ts.acked, ts.nacked, ts.nackErr, ts.nackedTarget = o, nil, "", ""
	ts.upTo, ts.exact = o.target.Version, exactVersion(o)
	ts.base = nil
	if o.exact && o.subscriptions == ts.subscriptions {
		// It was sent all that target adds or changes, and told to forget
		// all it held beyond it, and wants what it wanted then.
		ts.base = o.target
	}
}

// stepDelta serves one type of a Delta stream: what the target adds or
// changes for the proxy, and the names it should forget once make before
// break lets them go. It reports whether the type's confirmed state moved.
func (c *viewCache) stepDelta(st *stream, ts *typeSync, v *View) bool {
	w := ts.watch
	if !ts.idle() || w == nil {
		return false
	}
	target := v.typeView(ts.typeURL)
	resp := &discoverypb.DeltaDiscoveryResponse{TypeUrl: ts.typeURL, SystemVersionInfo: target.Version}
	var send []*Resource // what the proxy lacks, in order
	// complete: once it takes send and removes what it holds beyond
	// target, it holds exactly target. Not so when a resource is left out
	// because it is not wanted or was rejected at that version.
	complete := true
	add := func(r *Resource) {
		if !ts.wants(w.sub, r.Name) || ts.rejected[r.Name] == r.Version {
			complete = false
			return
		}
		if version, held := ts.held.version(r.Name); held && version == r.Version {
			return
		}
		send = append(send, r)
	}
	var gone []string // held names target does not have
	if ts.base != nil {
		// Only what changed since base can differ from what the proxy holds;
		// the rest it holds at base's version, or does not want or rejected
		// (complete only if it held base whole).
		complete = ts.held.whole() == ts.base
		d := target.changesSince(ts.base)
		for _, r := range d.changed {
			add(r)
		}
		for _, name := range d.removed {
			if ts.held.has(name) {
				gone = append(gone, name)
			}
		}
	} else {
		present := 0 // of the names the proxy holds, those target has
		for _, r := range target.sortedResources() {
			if ts.held.has(r.Name) {
				present++
			}
			add(r)
		}
		if present < ts.held.size() { // target lacks some name the proxy holds
			for name := range ts.held.names {
				if target.Resources[name] == nil {
					gone = append(gone, name)
				}
			}
		}
	}
	kept, mayRemove, asked := 0, false, false
	for _, name := range gone {
		if !asked { // only when there is something to remove
			mayRemove, asked = c.mayRemove(st, ts.typeURL, v), true
		}
		if mayRemove {
			resp.RemovedResources = append(resp.RemovedResources, name)
		} else {
			kept++
		}
	}
	slices.Sort(resp.RemovedResources) // deterministic responses
	if len(send) == 0 && len(resp.RemovedResources) == 0 {
		if kept == 0 {
			ts.base = target
			if complete {
				// It holds exactly target already (a route change leaves
				// every load assignment as it was): held as that view, so
				// that what reads held (holdsAll, the next change) finds it
				// whole instead of walking thousands of names, and the view
				// it held before can be freed.
				ts.held.holdWhole(target)
			}
		}
		return ts.confirm(target, kept == 0)
	}
	if isRouteType(ts.typeURL) && len(send) > 0 && !c.routesMayChange(st, v) {
		return false
	}
	if len(send) == len(target.sorted) && len(send) > 0 && target.shared() {
		// Everything, as to every new proxy of the view: one copy for all
		// (encoded.go).
		withEncoded(resp, target.allDelta().encoded())
	} else {
		resp.Resources = make([]*discoverypb.Resource, len(send))
		for i, r := range send {
			resp.Resources[i] = &discoverypb.Resource{Name: r.Name, Version: r.Version, Resource: r.Any}
		}
	}
	ts.offered = &offer{resp: resp, target: target, exact: kept == 0, version: target.Version,
		resources: send, removed: resp.RemovedResources, complete: complete && kept == 0,
		subscriptions: ts.subscriptions}
	ts.watch = nil
	// go-control-plane keeps its own copy of what it returned; pilotlight
	// tracks that itself (held), so it is given none to keep.
	select {
	case w.deltaOut <- &cachev3.DeltaPassthroughResponse{DeltaRequest: w.deltaReq, DeltaDiscoveryResponse: resp, NextVersionMap: map[string]string{}}:
	default:
		c.log.Error("delta xds response channel full; response dropped", "type", ts.typeURL, "node", st.nodeID)
		ts.offered = nil
	}
	return false
}
