package xds

import (
	"fmt"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate"
)

// View is everything one proxy is served, by type URL. Views are
// immutable: a change builds a new one. Resources made for one proxy only
// (its own certificates, say) go into its view like any other: build a new
// View with them added to the type's resources.
type View struct {
	Proxy translate.Proxy
	Types map[string]*TypeView
	// Patches: what the EnvoyFilters that apply to the proxy did, for
	// Server.Problems.
	Patches []translate.PatchResult
}

// viewTypes are the types a view holds, in the order Envoy should get them
// (xDS's "eventual consistency considerations"): clusters, then their
// endpoints, then listeners, then the routes they name, then secrets (named
// by listeners; Envoy asks for them once it has the listener).
var viewTypes = []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.SecretType}

// served: the type URLs pilotlight answers; a request for another ends
// the stream (its state would otherwise be kept per type URL, without
// bound).
func served(typeURL string) bool {
	for _, t := range viewTypes {
		if t == typeURL {
			return true
		}
	}
	return false
}

// typeView is a view's resources of one type, never nil.
func (v *View) typeView(typeURL string) *TypeView {
	if v != nil {
		if tv := v.Types[typeURL]; tv != nil {
			return tv
		}
	}
	return emptyTypeView
}

// buildView marshals and checks a translated proxy view (through the memo,
// so shared resources are marshaled and checked once). prev, the view the
// proxy had (nil for a new proxy), supplies the previous version of every
// resource that fails its checks.
func buildView(prefix string, memo *marshalMemo, p translate.Proxy, res *translate.Resources, prev *View) (*View, error) {
	groups := map[string][]proto.Message{
		resourcev3.ListenerType: messages(res.Listeners),
		resourcev3.RouteType:    messages(res.Routes),
		resourcev3.SecretType:   messages(res.Secrets),
	}
	v := &View{Proxy: p, Types: map[string]*TypeView{}, Patches: res.Patches}
	for _, typeURL := range viewTypes {
		var clusters *TypeView // what references are checked against
		if typeURL == resourcev3.ListenerType || typeURL == resourcev3.RouteType {
			// Clusters come first in viewTypes: they are final here.
			clusters = v.Types[resourcev3.ClusterType]
		}
		var tv *TypeView
		var err error
		switch {
		case typeURL == resourcev3.EndpointType:
			tv, err = memo.endpointView(prefix, p, res.LoadAssignments, prev.typeView(typeURL))
		case typeURL == resourcev3.ClusterType && len(res.Patches) == 0:
			// Unpatched, a proxy's clusters are a list others share.
			tv, err = sharedView(memo, prefix, p, typeURL, res.Clusters, prev.typeView(typeURL))
		case typeURL == resourcev3.ClusterType:
			tv, err = memo.typeViewOf(prefix, p, typeURL, messages(res.Clusters), prev.typeView(typeURL), nil)
		default:
			tv, err = memo.typeViewOf(prefix, p, typeURL, groups[typeURL], prev.typeView(typeURL), clusters)
		}
		if err != nil {
			return nil, err
		}
		v.Types[typeURL] = tv.held()
	}
	return v, nil
}

// messages is a list of translated resources as proto.Messages.
func messages[T proto.Message](items []T) []proto.Message {
	out := make([]proto.Message, len(items))
	for i, m := range items {
		out[i] = m
	}
	return out
}

// typeViewOf marshals msgs into a type view. A resource that fails
// its checks (or sends traffic to a cluster not in clusters, when that is
// not nil) is reported, and prev's version of it is served instead, if
// there is one. And while any resource of the type fails, none of prev's
// resources is dropped: a resource that failed under a new name (a
// listener whose address went bad) has no previous version of its own, so
// the one it would replace stays. A list of messages seen before, all
// good, gets the view made of it then (listview.go); msgs is not changed
// after.
func (memo *marshalMemo) typeViewOf(prefix string, p translate.Proxy, typeURL string, msgs []proto.Message, prev *TypeView, clusters *TypeView) (*TypeView, error) {
	key := keyOf(typeURL, msgs, clusters)
	memo.mu.Lock()
	known := memo.lists.find(key, msgs)
	memo.mu.Unlock()
	if known != nil {
		return known, nil
	}
	var extra func(*Resource) error
	if clusters != nil {
		extra = clustersExist(memo, clusters)
	}
	all, err := memo.resources(msgs)
	if err != nil {
		return nil, err
	}
	out := all[:0] // filtered in place
	failed := false
	for _, r := range all {
		why := r.invalid
		if why == nil && extra != nil {
			why = extra(r)
		}
		if why != nil {
			failed = true
			memo.problems.add(p, typeURL, r.Name, why)
			if r = prev.Resources[r.Name]; r == nil {
				continue
			}
		}
		out = append(out, r)
	}
	if failed {
		// newTypeView serves the first of a name: these come after.
		out = append(out, prev.sortedResources()...)
		return memo.views.view(prefix, out), nil
	}
	tv := memo.views.view(prefix, out)
	memo.mu.Lock()
	memo.lists.add(key, msgs, tv)
	memo.mu.Unlock()
	return tv, nil
}

// clustersExist checks that a route configuration or listener sends
// traffic only to clusters of the view: Envoy would accept it and answer
// 503 (no_cluster) on those routes.
func clustersExist(memo *marshalMemo, clusters *TypeView) func(*Resource) error {
	return func(r *Resource) error {
		if missing := memo.missingClusters(r, clusters); len(missing) > 0 {
			return fmt.Errorf("sends traffic to clusters this proxy does not have: %q", missing)
		}
		return nil
	}
}

// withEndpoints is the fast path for an endpoint-only change: the view
// keeps its clusters, listeners and routes and gets new endpoints, the
// type view every proxy with the same load assignments shares.
func (v *View) withEndpoints(prefix string, memo *marshalMemo, las []*endpoint.ClusterLoadAssignment) (*View, error) {
	tv, err := memo.endpointView(prefix, v.Proxy, las, v.typeView(resourcev3.EndpointType))
	if err != nil {
		return nil, err
	}
	next := &View{Proxy: v.Proxy, Types: make(map[string]*TypeView, len(v.Types)), Patches: v.Patches}
	for t, old := range v.Types {
		next.Types[t] = old
	}
	next.Types[resourcev3.EndpointType] = tv.held()
	return next, nil
}

// sharedKey identifies a list that translate hands to many proxies (the
// same slice: Mesh.LoadAssignmentsFor, and the cluster lists of ForProxy),
// and the view of its type the proxies had before (for the resources that
// fail their checks).
type sharedKey struct {
	typeURL string
	first   any // the list's first element's address: its array
	n       int
	prev    *TypeView
}

// endpointView is the endpoint type view of a list of load assignments,
// made once for all the proxies that share the list and their previous
// endpoints: an endpoint change costs what the endpoints cost, not that
// times the number of proxies.
func (m *marshalMemo) endpointView(prefix string, p translate.Proxy, las []*endpoint.ClusterLoadAssignment, prev *TypeView) (*TypeView, error) {
	return sharedView(m, prefix, p, resourcev3.EndpointType, las, prev)
}

// sharedView is the type view of a list that many proxies share, made
// once for all of them (and their previous view of the type).
func sharedView[T proto.Message](m *marshalMemo, prefix string, p translate.Proxy, typeURL string, list []T, prev *TypeView) (*TypeView, error) {
	if len(list) == 0 {
		return m.typeViewOf(prefix, p, typeURL, nil, prev, nil)
	}
	key := sharedKey{typeURL, &list[0], len(list), prev}
	m.mu.Lock()
	tv, ok := m.shared[key]
	m.mu.Unlock()
	if ok {
		return tv, nil
	}
	tv, err := m.typeViewOf(prefix, p, typeURL, messages(list), prev, nil)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.shared[key] = tv
	m.mu.Unlock()
	return tv, nil
}

func resourceName(m proto.Message) string { return cachev3.GetResourceName(m) }
