package xds

import (
	"hash/maphash"
	"slices"
	"sync"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// A state-of-the-world sidecar names every cluster it has in each request
// for endpoints, its ACKs included: with a thousand services, three
// thousand names in every ACK from every proxy, every time any endpoint
// changes. Kept per stream (go-control-plane makes a set of them per
// request and keeps it), that was most of the memory of a connected proxy,
// and most of an endpoint change's work. So:
//   - the names are decoded into the server's own strings (codec.go);
//   - the list is looked up among the lists other streams sent (nameSets):
//     every sidecar of a mesh, or of one Sidecar scope, sends the same one,
//     and they share one set of it;
//   - the request handed on to go-control-plane names one placeholder
//     instead (keptNames), so that its subscription holds one name, not
//     three thousand. The cache reads the stream's names from the set it
//     kept, never from go-control-plane's subscription (CreateWatch).

// askedNames are the names a state-of-the-world request asks for.
type askedNames struct {
	names *nameSet // nil: every name (wildcard)
}

// has: the request asks for the name.
func (a askedNames) has(name string) bool { return a.names == nil || a.names.has(name) }

// all: the request asks for every name of tv, and no other.
func (a askedNames) all(tv *TypeView) bool { return a.names == nil || a.names.exactly(tv) }

// same: both ask for the same names.
func (a askedNames) same(b askedNames) bool {
	switch {
	case a.names == b.names:
		return true
	case a.names == nil || b.names == nil:
		return false
	}
	return sameSet(a.names.set, b.names.set)
}

// keptNames is what a request names once its names are kept by the cache.
var keptNames = []string{"pilotlight.io/names-kept-by-the-server"}

// nameSet is one list of names, as requests send it.
type nameSet struct {
	list []string
	set  map[string]struct{}

	mu      sync.Mutex
	exactOf map[uint64]bool // by a view's names hash: holds exactly its names
}

func newNameSet(list []string) *nameSet {
	return &nameSet{list: list, set: toSet(list), exactOf: map[uint64]bool{}}
}

func (n *nameSet) has(name string) bool {
	_, ok := n.set[name]
	return ok
}

// exactly: the set holds exactly the names of tv (worked out once per
// set of names of a view, for all the streams that share the set).
func (n *nameSet) exactly(tv *TypeView) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if v, ok := n.exactOf[tv.namesHash]; ok {
		return v
	}
	exact := len(n.set) == len(tv.sorted)
	for i := 0; exact && i < len(tv.sorted); i++ {
		exact = n.has(tv.sorted[i].Name)
	}
	if len(n.exactOf) >= maxCachedDiffs {
		clear(n.exactOf)
	}
	n.exactOf[tv.namesHash] = exact
	return exact
}

// nameSets are the name lists streams sent, for others to share.
type nameSets struct {
	seed maphash.Seed
	mu   sync.Mutex
	sets map[uint64][]*nameSet
	// byList: the set of a list the codec shares between requests
	// (codec_names.go's nameLists), by the list itself.
	byList map[requestList]*nameSet
}

// requestList is a list the codec hands over again (the same elements, never
// changed), and whether the set kept for it is the list sorted (a Delta
// stream's first names, keepDeltaNames) or the list as it is.
type requestList struct {
	first  *string
	n      int
	sorted bool
}

func requestListOf(list []string, sorted bool) requestList {
	return requestList{&list[0], len(list), sorted}
}

// maxNameSets bounds nameSets; a stream keeps the set it uses anyway.
const maxNameSets = 256

func newNameSets() *nameSets {
	return &nameSets{seed: maphash.MakeSeed(), sets: map[uint64][]*nameSet{}, byList: map[requestList]*nameSet{}}
}

// listSet is the set kept for the list k names, nil if none.
func (n *nameSets) listSet(k requestList) *nameSet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byList[k]
}

// keepList keeps the set of the list k names; n.mu is held.
func (n *nameSets) keepList(k requestList, ns *nameSet) {
	if len(n.byList) >= maxNameSets {
		clear(n.byList)
	}
	n.byList[k] = ns
}

// sortedOf is the set rememberSorted kept for this very list, nil when
// there is none or when look is false.
func (n *nameSets) sortedOf(list []string, look bool) *nameSet {
	if !look || len(list) < minSharedNames {
		return nil
	}
	return n.listSet(requestListOf(list, true))
}

// rememberSorted keeps the set of a list's names, sorted, for sortedOf.
// The list must hold no "*" and must not change after.
func (n *nameSets) rememberSorted(list []string, set *nameSet) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keepList(requestListOf(list, true), set)
}

// of is the shared set of a list of names.
func (n *nameSets) of(list []string) *nameSet {
	if ns := n.listSet(requestListOf(list, false)); ns != nil {
		return ns
	}
	return n.find(list, true)
}

// shared is the shared set of a list no request hands over as it is (a
// Delta stream's sorted names): looked up by content only.
func (n *nameSets) shared(list []string) *nameSet { return n.find(list, false) }

// find looks a list up by its content, adding it if new; byList: also
// remember the list itself, which the codec hands over again.
func (n *nameSets) find(list []string, byList bool) *nameSet {
	var h maphash.Hash
	h.SetSeed(n.seed)
	for _, s := range list {
		h.WriteString(s)
		h.WriteByte(0)
	}
	key := h.Sum64()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ns := range n.sets[key] {
		if slices.Equal(ns.list, list) { // the same strings (codec.go): cheap
			if byList {
				n.keepList(requestListOf(list, false), ns)
			}
			return ns
		}
	}
	if len(n.sets) >= maxNameSets {
		clear(n.sets)
	}
	ns := newNameSet(slices.Clone(list))
	n.sets[key] = append(n.sets[key], ns)
	if byList {
		// The list may be one the codec shares (it never changes): its
		// next requests are found by it.
		n.keepList(requestListOf(list, false), ns)
	}
	return ns
}

// keepNames takes the names of a state-of-the-world request for the cache
// (see the top of this file), and hands go-control-plane the placeholder.
// Requests for every name (wildcard, explicit or not), or none, stay as
// they are.
func (c *viewCache) keepNames(id int64, req *discoverypb.DiscoveryRequest) {
	names := req.GetResourceNames()
	if fullState(req.GetTypeUrl()) || len(names) == 0 || slices.Contains(names, "*") {
		return
	}
	ns := c.nameSets.of(names)
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[id]
	if st == nil {
		return
	}
	st.typeState(req.GetTypeUrl()).kept = ns
	req.ResourceNames = keptNames
}

// requestedNames are the names a request asks for: the set keepNames kept
// for it, or go-control-plane's subscription's (Envoy always wants every
// listener and cluster).
func requestedNames(typeURL string, sub cachev3.Subscription, kept *nameSet) askedNames {
	switch {
	case typeURL == resourcev3.ListenerType || typeURL == resourcev3.ClusterType || sub.IsWildcard():
		return askedNames{}
	case kept != nil:
		return askedNames{names: kept}
	}
	set := sub.SubscribedResources()
	list := make([]string, 0, len(set))
	for name := range set {
		list = append(list, name)
	}
	slices.Sort(list)
	return askedNames{names: newNameSet(list)}
}

// internNames replaces the names of a request with the strings of the
// stream's view (Delta's subscriptions: go-control-plane keeps them), so
// that what is kept of them holds no copy of them.
func internNames(names []string, tv *TypeView) {
	for i, name := range names {
		if r := tv.Resources[name]; r != nil {
			names[i] = r.Name
		}
	}
}

// trimmedRequest is what a watch keeps of a request: go-control-plane
// needs its type (and hands it to the callbacks), nothing else.
func trimmedRequest(req *discoverypb.DiscoveryRequest) *discoverypb.DiscoveryRequest {
	return &discoverypb.DiscoveryRequest{TypeUrl: req.GetTypeUrl(), Node: req.GetNode(), VersionInfo: req.GetVersionInfo(), ResponseNonce: req.GetResponseNonce()}
}

func trimmedDeltaRequest(req *discoverypb.DeltaDiscoveryRequest) *discoverypb.DeltaDiscoveryRequest {
	return &discoverypb.DeltaDiscoveryRequest{TypeUrl: req.GetTypeUrl(), Node: req.GetNode(), ResponseNonce: req.GetResponseNonce()}
}
