// Package xds serves each connected Envoy its own view of the mesh over ADS,
// in both state-of-the-world and incremental (Delta) variants.
package xds

import (
	"fmt"
	"hash/fnv"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Resource is one xDS resource, marshaled once and shared by every view
// that holds it.
type Resource struct {
	Name    string
	Version string // hash of the marshaled bytes: equal content, equal version
	Any     *anypb.Any
}

// marshalMemo marshals each translated message once. translate shares a
// message by pointer when many proxies get the same one (a service's
// cluster, its endpoints), so keying on the pointer turns "one marshal per
// proxy" into "one marshal per resource" for the life of one mesh snapshot.
type marshalMemo struct {
	mu   sync.Mutex
	done map[proto.Message]*Resource
}

func newMarshalMemo() *marshalMemo {
	return &marshalMemo{done: map[proto.Message]*Resource{}}
}

func (m *marshalMemo) resource(name string, msg proto.Message) (*Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.done[msg]; ok {
		return r, nil
	}
	a := &anypb.Any{}
	// Deterministic: map fields in a stable order, so that unchanged config
	// gives unchanged bytes, versions, and no needless listener drains.
	if err := anypb.MarshalFrom(a, msg, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("marshal %s %q: %w", msg.ProtoReflect().Descriptor().FullName(), name, err)
	}
	r := &Resource{Name: name, Version: contentHash(a.Value), Any: a}
	m.done[msg] = r
	return r, nil
}

func contentHash(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

// TypeView is every resource of one type in a proxy's view.
type TypeView struct {
	// Version of the whole set (state of the world): the process prefix and
	// a hash of the names and versions of its resources.
	Version   string
	Resources map[string]*Resource
}

func newTypeView(prefix string, resources []*Resource) *TypeView {
	tv := &TypeView{Resources: make(map[string]*Resource, len(resources))}
	h := fnv.New64a()
	sort.Slice(resources, func(i, j int) bool { return resources[i].Name < resources[j].Name })
	for _, r := range resources {
		tv.Resources[r.Name] = r
		fmt.Fprintf(h, "%s\x00%s\x00", r.Name, r.Version)
	}
	tv.Version = fmt.Sprintf("%s-%016x", prefix, h.Sum64())
	return tv
}

// sortedNames lists the names of a type view, for deterministic responses.
func (tv *TypeView) sortedNames() []string {
	names := make([]string, 0, len(tv.Resources))
	for n := range tv.Resources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
