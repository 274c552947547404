package xds

import (
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// A list's view is found again only for the very same messages, in the same
// order, of the same type, checked against the same clusters.
func TestListViewsFindOnlyTheSameList(t *testing.T) {
	a, b, c := &cluster.Cluster{Name: "a"}, &cluster.Cluster{Name: "b"}, &cluster.Cluster{Name: "a"}
	list := []proto.Message{a, b}
	clusters, other := newTypeView("p", nil), newTypeView("q", nil)
	tv := newTypeView("p", nil)
	l := newListViews()
	l.add(keyOf(resourcev3.ClusterType, list, clusters), list, tv)
	for _, tc := range []struct {
		name     string
		typeURL  string
		msgs     []proto.Message
		clusters *TypeView
		found    bool
	}{
		{"the same list", resourcev3.ClusterType, []proto.Message{a, b}, clusters, true},
		{"another order", resourcev3.ClusterType, []proto.Message{b, a}, clusters, false},
		{"equal content, another message", resourcev3.ClusterType, []proto.Message{c, b}, clusters, false},
		{"a shorter list", resourcev3.ClusterType, []proto.Message{a}, clusters, false},
		{"another type", resourcev3.ListenerType, []proto.Message{a, b}, clusters, false},
		{"other clusters", resourcev3.ClusterType, []proto.Message{a, b}, other, false},
	} {
		got := l.find(keyOf(tc.typeURL, tc.msgs, tc.clusters), tc.msgs)
		if (got == tv) != tc.found || (got != nil && got != tv) {
			t.Errorf("%s: found %v, want %v", tc.name, got != nil, tc.found)
		}
	}
}
