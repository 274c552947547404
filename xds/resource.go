// Package xds serves each connected Envoy its own view of the mesh over ADS,
// in both state-of-the-world and incremental (Delta) variants.
package xds

import (
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"slices"
	"strings"
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

	// What the resource needs from others of the view, read once when it
	// is marshaled: the view checks that the clusters exist (view.go), and
	// make before break waits for all of it (order.go).
	refs
	// invalid is why the resource failed its checks (validate.go): it is
	// never served.
	invalid error
}

// marshalMemo marshals and checks each translated message once. translate
// shares a message by pointer when many proxies get the same one (a
// service's cluster, its endpoints), so keying on the pointer turns "one
// marshal per proxy" into "one marshal per resource" for the life of one
// mesh snapshot. The checks ride along: validated once, like marshaled once.
type marshalMemo struct {
	mu   sync.Mutex
	done map[proto.Message]*Resource
	// refsChecked caches the cluster-reference check of a route or listener
	// against a set of cluster names (by names hash), shared by the many
	// proxies whose cluster names are the same.
	refsChecked map[refsKey][]string
	anys        anyCache
	problems    *problemLog
}

type refsKey struct {
	r     *Resource
	names uint64
}

func newMarshalMemo(problems *problemLog) *marshalMemo {
	return &marshalMemo{done: map[proto.Message]*Resource{}, refsChecked: map[refsKey][]string{}, anys: anyCache{}, problems: problems}
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
	var opened []proto.Message
	r.invalid = validate(msg, func(m proto.Message) { opened = append(opened, m) }, m.anys)
	r.refs = references(msg, opened)
	m.done[msg] = r
	return r, nil
}

// missingClusters lists the clusters r sends traffic to that are not in
// clusters, computed once per distinct set of cluster names.
func (m *marshalMemo) missingClusters(r *Resource, clusters *TypeView) []string {
	if len(r.clusters) == 0 {
		return nil
	}
	key := refsKey{r, clusters.namesHash}
	m.mu.Lock()
	missing, ok := m.refsChecked[key]
	m.mu.Unlock()
	if ok {
		return missing
	}
	for _, c := range r.clusters {
		if clusters.Resources[c] == nil {
			missing = append(missing, c)
		}
	}
	m.mu.Lock()
	m.refsChecked[key] = missing
	m.mu.Unlock()
	return missing
}

func contentHash(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

// TypeView is every resource of one type in a proxy's view.
type TypeView struct {
	// Version of the whole set (state of the world): the process prefix and
	// a hash of the names and versions of its resources (keyed per process,
	// like the prefix: versions mean nothing across processes).
	Version   string
	Resources map[string]*Resource
	// namesHash identifies the set of names alone, so that "did a resource
	// go away?" is one comparison in the common case where none did.
	namesHash uint64
	names     []string // sorted
}

// viewSeed keys the hashes of type views. A per-process random seed: names
// come from user config, and must not be chosen to collide.
var viewSeed = maphash.MakeSeed()

func newTypeView(prefix string, resources []*Resource) *TypeView {
	tv := &TypeView{Resources: make(map[string]*Resource, len(resources)), names: make([]string, 0, len(resources))}
	var names, all maphash.Hash
	names.SetSeed(viewSeed)
	all.SetSeed(viewSeed)
	// Stable: of two resources of one name, the first given is served.
	slices.SortStableFunc(resources, func(a, b *Resource) int { return strings.Compare(a.Name, b.Name) })
	for _, r := range resources {
		if tv.Resources[r.Name] != nil {
			continue
		}
		tv.Resources[r.Name] = r
		tv.names = append(tv.names, r.Name)
		names.WriteString(r.Name)
		names.WriteByte(0)
		all.WriteString(r.Name)
		all.WriteByte(0)
		all.WriteString(r.Version)
		all.WriteByte(0)
	}
	tv.Version = fmt.Sprintf("%s-%016x", prefix, all.Sum64())
	tv.namesHash = names.Sum64()
	return tv
}

// sortedNames lists the names of a type view, for deterministic responses.
func (tv *TypeView) sortedNames() []string { return tv.names }

// sameNames: both sets hold exactly the same names.
func (tv *TypeView) sameNames(o *TypeView) bool {
	return len(tv.names) == len(o.names) && tv.namesHash == o.namesHash
}

// emptyTypeView stands for a type a view does not have.
var emptyTypeView = newTypeView("", nil)
