package xds

import (
	"sort"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate"
)

// ProxyResources is what the server currently holds for one proxy and one
// resource type: the body of `pilotlight proxy-config`.
type ProxyResources struct {
	NodeID    string
	Version   string
	Resources []proto.Message // sorted by name
}

// ProxyConfig returns the resources of typeURL in the view of the proxy of
// pod ("namespace/name"), decoded from what was marshaled for it. ok is
// false when no proxy of that pod is connected.
func (s *Server) ProxyConfig(pod, typeURL string) (res ProxyResources, ok bool, err error) {
	nodes := s.cache.Nodes()
	ids := make([]string, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p, perr := translate.ParseNodeID(id)
		if perr != nil || p.Namespace+"/"+p.PodName != pod || nodes[id] == nil {
			continue
		}
		res.NodeID = id
		tv := nodes[id].Types[typeURL]
		if tv == nil {
			return res, true, nil
		}
		res.Version = tv.Version
		for _, r := range tv.sortedResources() {
			msg, err := anypb.UnmarshalNew(r.Any, proto.UnmarshalOptions{})
			if err != nil {
				return res, true, err
			}
			res.Resources = append(res.Resources, msg)
		}
		return res, true, nil
	}
	return res, false, nil
}
