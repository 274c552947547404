package xds

import (
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate"
)

// View is everything one proxy is served, by type URL. Views are
// immutable: a change builds a new one.
type View struct {
	Proxy translate.Proxy
	Types map[string]*TypeView
	// Patches: what the EnvoyFilters that apply to the proxy did, for
	// Server.Problems.
	Patches []translate.PatchResult
}

// viewTypes are the types a view holds, in the order Envoy should get them
// (clusters before their endpoints, listeners before their routes and
// secrets: a gateway's TLS chains name their certificates over SDS).
var viewTypes = []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.SecretType}

// buildView marshals a translated proxy view (through the memo, so shared
// resources are marshaled once).
func buildView(prefix string, memo *marshalMemo, p translate.Proxy, res *translate.Resources) (*View, error) {
	v := &View{Proxy: p, Types: map[string]*TypeView{}, Patches: res.Patches}
	groups := map[string][]proto.Message{}
	for _, c := range res.Clusters {
		groups[resourcev3.ClusterType] = append(groups[resourcev3.ClusterType], c)
	}
	for _, la := range res.LoadAssignments {
		groups[resourcev3.EndpointType] = append(groups[resourcev3.EndpointType], la)
	}
	for _, l := range res.Listeners {
		groups[resourcev3.ListenerType] = append(groups[resourcev3.ListenerType], l)
	}
	for _, r := range res.Routes {
		groups[resourcev3.RouteType] = append(groups[resourcev3.RouteType], r)
	}
	for _, s := range res.Secrets {
		groups[resourcev3.SecretType] = append(groups[resourcev3.SecretType], s)
	}
	for _, typeURL := range viewTypes {
		tv, err := marshalTypeView(prefix, memo, groups[typeURL])
		if err != nil {
			return nil, err
		}
		v.Types[typeURL] = tv
	}
	return v, nil
}

func marshalTypeView(prefix string, memo *marshalMemo, msgs []proto.Message) (*TypeView, error) {
	resources := make([]*Resource, 0, len(msgs))
	for _, m := range msgs {
		r, err := memo.resource(resourceName(m), m)
		if err != nil {
			return nil, err
		}
		resources = append(resources, r)
	}
	return newTypeView(prefix, resources), nil
}

// withEndpoints is the fast path for an endpoint-only change: the view keeps
// its clusters, listeners and routes and gets new endpoints.
func (v *View) withEndpoints(prefix string, memo *marshalMemo, res *translate.Resources) (*View, error) {
	msgs := make([]proto.Message, 0, len(res.LoadAssignments))
	for _, la := range res.LoadAssignments {
		msgs = append(msgs, la)
	}
	tv, err := marshalTypeView(prefix, memo, msgs)
	if err != nil {
		return nil, err
	}
	next := &View{Proxy: v.Proxy, Types: make(map[string]*TypeView, len(v.Types)), Patches: v.Patches}
	for t, old := range v.Types {
		next.Types[t] = old
	}
	next.Types[resourcev3.EndpointType] = tv
	return next, nil
}

func resourceName(m proto.Message) string { return cachev3.GetResourceName(m) }
