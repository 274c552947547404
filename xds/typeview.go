package xds

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/types/known/anypb"
)

// TypeView is every resource of one type in a proxy's view. Type views
// are immutable and shared: proxies whose resources of a type are the
// same (every sidecar's endpoints, a namespace's route table) hold one
// TypeView (typeViewTable), and what a response needs from it is built
// once for all of them (fullAnys, anysSince).
type TypeView struct {
	// Version of the whole set (state of the world): the process prefix and
	// a hash of the names and versions of its resources (keyed per process,
	// like the prefix: versions mean nothing across processes).
	Version   string
	Resources map[string]*Resource
	// namesHash identifies the set of names alone, so that "did a resource
	// go away?" is one comparison in the common case where none did.
	namesHash uint64
	sorted    []*Resource // by name
	allHash   uint64      // of names and versions: the Version's hash

	// all are every resource in order: those of a full response, shared
	// by every response that carries them all; allDelta, as a Delta
	// response's.
	all, allDelta func() *resourceSet
	// since caches since() for the views proxies come from (by their
	// Version, so that no older view is kept alive through a newer one).
	mu    sync.Mutex
	since map[string]*resourceSet
	// changes caches changesSince, the same way.
	changes map[string]*typeDiff
	// holders counts the views that hold the type view: one that more
	// than one proxy holds sends its resources pre-encoded (encoded.go).
	holders atomic.Int32
}

// resourceSet is the resources of a response, as Anys and, for a type
// view several proxies hold, marshaled once (encoded.go).
type resourceSet struct {
	anys    []*anypb.Any
	encoded func() []byte
}

func newResourceSet(anys []*anypb.Any, encode func() []byte) *resourceSet {
	return &resourceSet{anys: anys, encoded: sync.OnceValue(encode)}
}

// held records that one more view holds tv.
func (tv *TypeView) held() *TypeView {
	tv.holders.Add(1)
	return tv
}

// shared: more than one proxy's view holds tv.
func (tv *TypeView) shared() bool { return tv.holders.Load() > 1 }

// viewSeed keys the hashes of type views. A per-process random seed: names
// come from user config, and must not be chosen to collide.
var viewSeed = maphash.MakeSeed()

// newTypeView sorts resources by name (in place; of two of one name, the
// first given is served) and makes their type view.
func newTypeView(prefix string, resources []*Resource) *TypeView {
	return buildTypeView(prefix, sortResources(resources))
}

// sortResources sorts by name, stably, and drops later duplicates. Most
// lists come sorted and unique already (translate's order): those are
// checked in one pass and not sorted again.
func sortResources(resources []*Resource) []*Resource {
	if sortedUniqueResources(resources) {
		return resources
	}
	slices.SortStableFunc(resources, func(a, b *Resource) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(resources, func(a, b *Resource) bool { return a.Name == b.Name })
}

func sortedUniqueResources(resources []*Resource) bool {
	for i := 1; i < len(resources); i++ {
		if resources[i-1].Name >= resources[i].Name {
			return false
		}
	}
	return true
}

// viewHashes are the hashes of sorted, unique resources: of their names,
// and of their names and versions. Each combines the resources' own
// hashes (made once per resource) in order, so that a view of thousands
// of resources hashes a few words per resource, not its names again.
func viewHashes(sorted []*Resource) (names, all uint64) {
	nb := make([]byte, 0, 8*len(sorted))
	ab := make([]byte, 0, 8*len(sorted))
	for _, r := range sorted {
		nb = binary.LittleEndian.AppendUint64(nb, r.nameHash)
		ab = binary.LittleEndian.AppendUint64(ab, r.hash)
	}
	return maphash.Bytes(viewSeed, nb), maphash.Bytes(viewSeed, ab)
}

func buildTypeView(prefix string, sorted []*Resource) *TypeView {
	namesHash, allHash := viewHashes(sorted)
	return makeTypeView(prefix, sorted, namesHash, allHash)
}

func makeTypeView(prefix string, sorted []*Resource, namesHash, allHash uint64) *TypeView {
	tv := &TypeView{Resources: make(map[string]*Resource, len(sorted)), sorted: slices.Clip(sorted),
		namesHash: namesHash, allHash: allHash, Version: fmt.Sprintf("%s-%016x", prefix, allHash)}
	for _, r := range sorted {
		tv.Resources[r.Name] = r
	}
	tv.all = sync.OnceValue(func() *resourceSet {
		anys := make([]*anypb.Any, len(tv.sorted))
		for i, r := range tv.sorted {
			anys[i] = r.Any
		}
		return newResourceSet(anys, func() []byte { return encodeSotw(anys) })
	})
	tv.allDelta = sync.OnceValue(func() *resourceSet {
		return newResourceSet(nil, func() []byte { return encodeDelta(tv.sorted) })
	})
	return tv
}

// sortedResources lists the resources of a type view by name, for
// deterministic responses.
func (tv *TypeView) sortedResources() []*Resource { return tv.sorted }

// sameNames: both sets hold exactly the same names.
func (tv *TypeView) sameNames(o *TypeView) bool {
	return len(tv.sorted) == len(o.sorted) && tv.namesHash == o.namesHash
}

// sameContent: both hold the same names at the same versions.
func (tv *TypeView) sameContent(sorted []*Resource) bool {
	if len(tv.sorted) != len(sorted) {
		return false
	}
	for i, r := range sorted {
		if o := tv.sorted[i]; o != r && (o.Name != r.Name || o.Version != r.Version) {
			return false
		}
	}
	return true
}

// anysSince are the resources that are new or changed since from, in
// order: what a response must carry for a proxy that holds from (and asks
// for all of this view), where a type's responses need not repeat what the
// proxy has (endpoints, routes, secrets). Built once per pair of views,
// whatever the number of proxies.
func (tv *TypeView) anysSince(from *TypeView) *resourceSet {
	tv.mu.Lock()
	defer tv.mu.Unlock()
	if out, ok := tv.since[from.Version]; ok {
		return out
	}
	changed := tv.changesSinceLocked(from).changed
	anys := make([]*anypb.Any, len(changed))
	for i, r := range changed {
		anys[i] = r.Any
	}
	out := newResourceSet(anys, func() []byte { return encodeSotw(anys) })
	if tv.since == nil {
		tv.since = map[string]*resourceSet{}
	}
	if len(tv.since) >= maxCachedDiffs {
		clear(tv.since) // a view proxies come to from many others: rare
	}
	tv.since[from.Version] = out
	return out
}

// typeDiff is what changed from one type view to another: the resources
// that are new or at another version, and the names that went away, both
// sorted by name.
type typeDiff struct {
	changed []*Resource
	removed []string
}

// changesSince is what changed from from to tv (Delta responses, and
// anysSince's state-of-the-world ones), built once per pair of views,
// whatever the number of proxies.
func (tv *TypeView) changesSince(from *TypeView) *typeDiff {
	tv.mu.Lock()
	defer tv.mu.Unlock()
	return tv.changesSinceLocked(from)
}

// changesSinceLocked is changesSince with tv.mu held.
func (tv *TypeView) changesSinceLocked(from *TypeView) *typeDiff {
	if d, ok := tv.changes[from.Version]; ok {
		return d
	}
	d := &typeDiff{}
	i, j := 0, 0
	for i < len(tv.sorted) || j < len(from.sorted) {
		switch {
		case j == len(from.sorted) || (i < len(tv.sorted) && tv.sorted[i].Name < from.sorted[j].Name):
			d.changed = append(d.changed, tv.sorted[i])
			i++
		case i == len(tv.sorted) || from.sorted[j].Name < tv.sorted[i].Name:
			d.removed = append(d.removed, from.sorted[j].Name)
			j++
		default: // the same name
			if tv.sorted[i].Version != from.sorted[j].Version {
				d.changed = append(d.changed, tv.sorted[i])
			}
			i, j = i+1, j+1
		}
	}
	if tv.changes == nil {
		tv.changes = map[string]*typeDiff{}
	}
	if len(tv.changes) >= maxCachedDiffs {
		clear(tv.changes)
	}
	tv.changes[from.Version] = d
	return d
}

// maxCachedDiffs bounds anysSince's cache per view.
const maxCachedDiffs = 8

// emptyTypeView stands for a type a view does not have.
var emptyTypeView = newTypeView("", nil)

// typeViewTable interns the type views of one snapshot: views of the same
// resources (the same names at the same versions) are one TypeView, so
// that two thousand sidecars with the same clusters hold one set of them,
// not two thousand.
type typeViewTable struct {
	mu    sync.Mutex
	views map[uint64][]*TypeView // by allHash
}

func newTypeViewTable() *typeViewTable { return &typeViewTable{views: map[uint64][]*TypeView{}} }

// view is the type view of resources (sorted and made unique here, in
// place), the one already made if there is one.
func (t *typeViewTable) view(prefix string, resources []*Resource) *TypeView {
	sorted := sortResources(resources)
	namesHash, allHash := viewHashes(sorted)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tv := range t.views[allHash] {
		if tv.namesHash == namesHash && tv.sameContent(sorted) && strings.HasPrefix(tv.Version, prefix+"-") {
			return tv
		}
	}
	tv := makeTypeView(prefix, sorted, namesHash, allHash)
	t.views[allHash] = append(t.views[allHash], tv)
	return tv
}

// names lists the names of a type view, sorted.
func (tv *TypeView) names() []string {
	out := make([]string, len(tv.sorted))
	for i, r := range tv.sorted {
		out[i] = r.Name
	}
	return out
}
