package xds

import (
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// askedNames are the names a state-of-the-world request asks for. A
// sidecar's EDS request names every cluster it has, thousands of names,
// again in every ACK: reading it is kept to one pass per request, and
// what the stream keeps of it to go-control-plane's one set of the names
// (their strings are the view's own, see internNames).
type askedNames struct {
	set map[string]struct{} // nil: every name (wildcard)
	// exactly: set holds exactly the names of a view whose names hash is
	// viewNames (found when the request came), so that "does it ask for
	// all of the view?" needs no pass over the names.
	exactly   bool
	viewNames uint64
}

// has: the request asks for the name.
func (a askedNames) has(name string) bool {
	if a.set == nil {
		return true
	}
	_, ok := a.set[name]
	return ok
}

// all: the request asks for every name of tv, and no other.
func (a askedNames) all(tv *TypeView) bool {
	return a.set == nil || (a.exactly && a.viewNames == tv.namesHash && len(a.set) == len(tv.sorted))
}

// same: both ask for the same names.
func (a askedNames) same(b askedNames) bool {
	switch {
	case (a.set == nil) != (b.set == nil):
		return false
	case a.set == nil:
		return true
	case a.exactly && b.exactly && a.viewNames == b.viewNames && len(a.set) == len(b.set):
		return true
	}
	return sameSet(a.set, b.set)
}

// requestedNames are the names a request asks for (Envoy always wants
// every listener and cluster). found tells how many of the request's
// names were in the view they were interned against (internNames), whose
// names hash is viewNames.
func requestedNames(typeURL string, sub cachev3.Subscription, req *cachev3.Request, found int, viewNames uint64) askedNames {
	if typeURL == resourcev3.ListenerType || typeURL == resourcev3.ClusterType || sub.IsWildcard() {
		return askedNames{}
	}
	a := askedNames{set: sub.SubscribedResources()}
	// Every name of the request is one of the view's, and there are as
	// many distinct ones as the view has: exactly the view's names.
	a.exactly = found >= 0 && found == len(req.GetResourceNames()) && viewNames != 0
	a.viewNames = viewNames
	return a
}

// internNames replaces the names of a request with the strings of the
// stream's view, which every stream of the view shares, so that what
// go-control-plane keeps of a subscription holds no copy of them; and
// counts how many it found (-1: no view to intern against).
func internNames(names []string, tv *TypeView) int {
	if tv == nil || len(tv.sorted) == 0 {
		return -1
	}
	found := 0
	for i, name := range names {
		if r := tv.Resources[name]; r != nil {
			names[i] = r.Name
			found++
		}
	}
	return found
}

// trimmedRequest is what a watch keeps of a request: go-control-plane
// needs its type (and hands it to the callbacks), nothing else. A
// state-of-the-world EDS request carries every cluster name.
func trimmedRequest(req *discoverypb.DiscoveryRequest) *discoverypb.DiscoveryRequest {
	return &discoverypb.DiscoveryRequest{TypeUrl: req.GetTypeUrl(), Node: req.GetNode(), VersionInfo: req.GetVersionInfo(), ResponseNonce: req.GetResponseNonce()}
}

func trimmedDeltaRequest(req *discoverypb.DeltaDiscoveryRequest) *discoverypb.DeltaDiscoveryRequest {
	return &discoverypb.DeltaDiscoveryRequest{TypeUrl: req.GetTypeUrl(), Node: req.GetNode(), ResponseNonce: req.GetResponseNonce()}
}
