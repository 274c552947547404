package xds

import (
	"slices"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// A Delta sidecar subscribes to the endpoints of each of its EDS clusters
// by name: three thousand names with a thousand services, in its first
// request for endpoints. go-control-plane keeps them as a map per stream
// (stream.Subscription, about 100 KB each), the largest thing a connected
// Delta proxy cost. So, as keepNames does for state of the world
// (asked.go), the cache keeps them instead: the first list as the set
// every stream that subscribed the same names shares (nameSets), plus what
// each stream subscribed or unsubscribed since; go-control-plane is handed
// the placeholder keptNames in their place, and the wildcard "*" as sent,
// so that it still knows whether a stream subscribed to everything.

// minSharedNames: a list this long is looked up among the shared sets; a
// shorter one costs little kept as it is.
const minSharedNames = 16

// subscribedNames (Delta) are the names a stream subscribed to of one type.
type subscribedNames struct {
	base    *nameSet            // shared; nil: none
	added   map[string]struct{} // subscribed beyond base
	removed map[string]struct{} // of base, unsubscribed
}

// has: the stream subscribed to name (a nil set: to none).
func (s *subscribedNames) has(name string) bool {
	if s == nil {
		return false
	}
	if _, ok := s.added[name]; ok {
		return true
	}
	if s.base == nil || !s.base.has(name) {
		return false
	}
	_, gone := s.removed[name]
	return !gone
}

// empty: no name is subscribed to (a nil set: none).
func (s *subscribedNames) empty() bool {
	return s == nil || (s.base == nil && len(s.added) == 0)
}

// update applies a request's subscribe and unsubscribe lists (without
// "*"); listed is the shared set of subscribe, if made. The first names a
// stream subscribes to become its base. Once what differs from base
// outgrows a quarter of it, the names are taken as a new base, shared
// again through sets.
func (s *subscribedNames) update(subscribe, unsubscribe []string, listed *nameSet, sets *nameSets) {
	if s.empty() && listed != nil {
		s.base, subscribe = listed, nil
	}
	for _, name := range subscribe {
		delete(s.removed, name)
		if s.base == nil || !s.base.has(name) {
			s.added = addName(s.added, name)
		}
	}
	for _, name := range unsubscribe {
		delete(s.added, name)
		if s.base != nil && s.base.has(name) {
			s.removed = addName(s.removed, name)
		}
	}
	kept := 0
	if s.base != nil {
		kept = len(s.base.list)
	}
	if len(s.added)+len(s.removed) <= 16+kept/4 {
		return
	}
	var all []string
	if s.base != nil {
		for _, name := range s.base.list {
			if s.has(name) {
				all = append(all, name)
			}
		}
	}
	for name := range s.added {
		all = append(all, name)
	}
	s.base, s.added, s.removed = nil, nil, nil
	if len(all) > 0 {
		slices.Sort(all)
		s.base = sets.shared(all)
	}
}

func addName(m map[string]struct{}, name string) map[string]struct{} {
	if m == nil {
		m = map[string]struct{}{}
	}
	m[name] = struct{}{}
	return m
}

func sortedCopy(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

// wants: the stream asks for the named resource of this type (Delta).
// sub is go-control-plane's subscription: whether the stream subscribed to
// everything, and any names keepDeltaNames did not take.
func (ts *typeSync) wants(sub cachev3.Subscription, name string) bool {
	if sub.IsWildcard() || ts.subscribed.has(name) {
		return true
	}
	_, ok := sub.SubscribedResources()[name]
	return ok
}

// keepDeltaNames takes the names a Delta request subscribes to and
// unsubscribes from for the cache (see the top of this file), interned
// against the stream's view of the type (internNames), and applies what
// changing them changes: a name unsubscribed is no longer held, and the
// next response is worked out afresh. go-control-plane is handed the
// placeholder and any "*".
func (c *viewCache) keepDeltaNames(id int64, req *discoverypb.DeltaDiscoveryRequest) {
	subscribe, unsubscribe := req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe()
	if len(subscribe)+len(unsubscribe) == 0 {
		return
	}
	c.mu.Lock()
	st := c.streams[id]
	var tv *TypeView
	if st != nil && st.entry != nil {
		tv = st.entry.view.typeView(req.GetTypeUrl())
	}
	// Requests of one stream come one at a time: whether the stream has
	// names yet does not change before the lock is taken again.
	fresh := st != nil && (st.types[req.GetTypeUrl()] == nil || st.types[req.GetTypeUrl()].subscribed.empty())
	c.mu.Unlock()
	if st == nil {
		return // go-control-plane keeps them
	}
	// The request's lists may be shared by other requests (codec_names.go):
	// read them, never change them in place. A first list the codec handed
	// over before (a thousand sidecars subscribe the same 3,000 names) has
	// its set already: its names are not looked at again.
	var names, gone, subWildcard, unsubWildcard []string
	listed := c.nameSets.sortedOf(subscribe, fresh && len(unsubscribe) == 0)
	if listed == nil {
		names, subWildcard = withoutWildcard(subscribe)
		if tv != nil {
			internNames(names, tv) // views are immutable: outside the lock
		}
		gone, unsubWildcard = withoutWildcard(unsubscribe)
		if fresh && len(names) >= minSharedNames {
			// The stream's first names, its base: sorted and hashed
			// outside the lock.
			listed = c.nameSets.shared(sortedCopy(names))
			if len(subWildcard) == 0 && len(unsubscribe) == 0 {
				c.nameSets.rememberSorted(subscribe, listed)
			}
		}
	}
	req.ResourceNamesSubscribe = subWildcard
	if len(names) > 0 || listed != nil {
		// Never empty where it was not: an empty first request means
		// every name (legacy wildcard).
		req.ResourceNamesSubscribe = append(subWildcard, keptNames...)
	}
	req.ResourceNamesUnsubscribe = unsubWildcard

	c.mu.Lock()
	defer c.mu.Unlock()
	ts := st.typeState(req.GetTypeUrl())
	if ts.subscribed == nil {
		ts.subscribed = &subscribedNames{}
	}
	ts.subscribed.update(names, gone, listed, c.nameSets)
	for _, name := range gone {
		ts.held.remove(name)
		delete(ts.rejected, name)
	}
	ts.allHeld, ts.base = nil, nil
	ts.subscriptions++ // what is wanted changed
}

// withoutWildcard splits "*" from a list of names; rest is a new slice.
func withoutWildcard(names []string) (rest, wildcard []string) {
	rest = make([]string, 0, len(names))
	for _, name := range names {
		if name == "*" {
			wildcard = []string{"*"}
		} else {
			rest = append(rest, name)
		}
	}
	return rest, wildcard
}
