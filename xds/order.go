package xds

import (
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Make before break. A config change must never fail a request, so each
// stream takes a change in the order xDS prescribes ("eventual consistency
// considerations"), waiting for the proxy's ACK between steps:
//
//  1. new and changed clusters, their endpoints and secrets: at once;
//     clusters the change drops are kept (state of the world: sent again
//     at the version the proxy holds; Delta: not yet removed);
//  2. listeners and routes, once every cluster they may name is usable:
//     the proxy ACKed the clusters, and holds the endpoints of each new EDS
//     cluster (until then Envoy keeps it warming and answers 503
//     no_cluster for it); listeners and routes the change drops are kept;
//  3. the dropped listeners and routes go, once the proxy ACKed the new
//     ones and holds the routes and secrets they name, so that they serve
//     (a listener whose port moved: the new one is in place first);
//  4. the dropped clusters, endpoints and secrets go, once the proxy ACKed
//     listeners and routes that no longer name them.
//
// Each step is a function of what the proxy has confirmed, not a phase to
// remember, so a change that arrives mid-way simply becomes the new target.
// A proxy that goes silent holds this up for at most Limits.RemovalGrace;
// a proxy that rejected the new listeners or routes keeps the old ones (and
// their clusters), as it keeps its last good config, until the next change.

// advance moves a stream toward its proxy's view: it answers whatever
// watch may be answered now. A step that finds the proxy already holds its
// target may let another step proceed, hence the passes (bounded: each
// pass that continues confirmed something new).
func (c *viewCache) advance(st *stream) {
	v := st.entry.view
	if v == nil {
		return
	}
	for pass := 0; pass < 4; pass++ {
		moved := false
		for _, typeURL := range viewTypes {
			ts := st.types[typeURL]
			if ts == nil {
				continue
			}
			step := c.stepSotw
			if st.delta {
				step = c.stepDelta
			}
			if step(st, ts, v) {
				moved = true
			}
		}
		if !moved {
			break
		}
	}
	c.watchGrace(st, v)
}

func isRouteType(typeURL string) bool {
	return typeURL == resourcev3.ListenerType || typeURL == resourcev3.RouteType
}

// routesMayChange: step 2 may start.
func (c *viewCache) routesMayChange(st *stream, v *View) bool {
	return st.graceOver || clustersReady(st, v)
}

// clustersReady: the proxy has answered the clusters of v, and holds the
// endpoints of every EDS cluster among them (an answer that was a NACK
// ends the wait too: waiting longer would change nothing).
func clustersReady(st *stream, v *View) bool {
	clusters := v.typeView(resourcev3.ClusterType)
	cds := st.types[resourcev3.ClusterType]
	if !cds.settled(clusters) {
		return false
	}
	if cds != nil && cds.nackedTarget == clusters.Version {
		return true
	}
	eds := st.types[resourcev3.EndpointType]
	if eds == nil || eds.nacked != nil {
		return true
	}
	endpoints := v.typeView(resourcev3.EndpointType)
	if a := eds.acked; eds.held == nil && a != nil && a.served.Version == endpoints.Version &&
		a.names.all(a.served) && eds.names.all(endpoints) {
		// State of the world: the proxy accepted these very endpoints,
		// asking for all of them then and now, so it holds every load
		// assignment the clusters name. One comparison instead of a
		// lookup per cluster, for each of thousands of proxies.
		return true
	}
	if eds.held != nil && holdsAll(eds, endpoints) {
		// Delta: the proxy holds every load assignment there is.
		return true
	}
	for _, r := range clusters.sortedResources() {
		if r.eds && endpoints.Resources[r.Name] != nil && !eds.holds(r.Name) {
			return false
		}
	}
	return true
}

// holdsAll (Delta): the proxy holds some version of every resource of tv.
// Found by a walk once per type view and stream, then remembered
// (typeSync.allHeld); only a view the proxy is at (base) is walked.
func holdsAll(ts *typeSync, tv *TypeView) bool {
	if ts.allHeld == tv {
		return true
	}
	if ts.held.whole() == tv {
		ts.allHeld = tv
		return true
	}
	if ts.base != tv || ts.held.size() < len(tv.sorted) {
		return false
	}
	for _, r := range tv.sorted {
		if !ts.holds(r.Name) {
			return false
		}
	}
	ts.allHeld = tv
	return true
}

// holds tells whether the proxy has accepted some version of the named
// resource: enough for Envoy to put to use what waits for it (a new EDS
// cluster its endpoints, a new listener its routes and secrets).
func (ts *typeSync) holds(name string) bool {
	if ts == nil {
		return false
	}
	if ts.held != nil {
		return ts.held.has(name)
	}
	// State of the world: it was sent the resource, and still asks for it
	// (a name it dropped since, it dropped).
	a := ts.acked
	if a == nil || a.served.Resources[name] == nil || !a.names.has(name) {
		return false
	}
	return ts.names.has(name)
}

// mayRemove: what the proxy holds of typeURL beyond the view may go.
func (c *viewCache) mayRemove(st *stream, typeURL string, v *View) bool {
	lds, rds := st.types[resourcev3.ListenerType], st.types[resourcev3.RouteType]
	listeners, routes := v.typeView(resourcev3.ListenerType), v.typeView(resourcev3.RouteType)
	if rejectedTarget(lds, listeners) || rejectedTarget(rds, routes) {
		return false // the old listeners and routes still work: keep them
	}
	if st.graceOver {
		return true
	}
	if !listenersReady(st, v) || !rds.at(routes) {
		return false
	}
	return isRouteType(typeURL) || (lds.exactly(listeners) && rds.exactly(routes)) // step 3, or 4
}

// listenersReady: the proxy has ACKed the listeners of v, and holds the
// route configuration and secrets each of them names: the listeners serve
// (Envoy keeps a listener warming until it has them).
func listenersReady(st *stream, v *View) bool {
	listeners, lds := v.typeView(resourcev3.ListenerType), st.types[resourcev3.ListenerType]
	if lds == nil {
		return true // it never asked for listeners: none to wait for
	}
	if !lds.at(listeners) {
		return false
	}
	rds, sds := st.types[resourcev3.RouteType], st.types[resourcev3.SecretType]
	routes, secrets := v.typeView(resourcev3.RouteType), v.typeView(resourcev3.SecretType)
	for _, l := range listeners.sortedResources() {
		for _, r := range l.routes {
			if routes.Resources[r] != nil && !rds.holds(r) {
				return false
			}
		}
		for _, s := range l.secrets {
			if secrets.Resources[s] != nil && !sds.holds(s) {
				return false
			}
		}
	}
	return true
}

func rejectedTarget(ts *typeSync, target *TypeView) bool {
	return ts != nil && ts.nackedTarget == target.Version
}

// watchGrace arms the grace timer when a stream starts waiting for its
// proxy, and disarms it when the stream has caught up. When it fires, the
// stream stops waiting (graceOver) until it has caught up once more.
func (c *viewCache) watchGrace(st *stream, v *View) {
	waiting := false
	for _, typeURL := range viewTypes {
		ts := st.types[typeURL]
		target := v.typeView(typeURL)
		if ts != nil && !ts.exactly(target) && !rejectedTarget(ts, target) {
			waiting = true
			break
		}
	}
	switch {
	case waiting && !st.waiting:
		st.waiting = true
		st.stopGrace = c.afterFunc(c.grace, func() { c.graceExpired(st) })
	case !waiting && st.waiting:
		st.waiting, st.graceOver = false, false
		if st.stopGrace != nil {
			st.stopGrace()
			st.stopGrace = nil
		}
	}
}

func (c *viewCache) graceExpired(st *stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[st.id] != st || !st.waiting {
		return
	}
	c.log.Warn("proxy did not confirm a change in time; make-before-break stops waiting for it", "node", st.nodeID, "stream", st.id, "grace", c.grace)
	st.graceOver = true
	c.advance(st)
}

// rejected reports a NACK.
func (c *viewCache) rejected(st *stream, ts *typeSync) {
	c.metrics.nacks.WithLabelValues(typeLabel(ts.typeURL)).Inc()
	c.log.Warn("proxy rejected config (NACK); it keeps its last good config", "node", st.nodeID, "stream", st.id,
		"type", ts.typeURL, "version", ts.nacked.version, "error", ts.nackErr)
}
