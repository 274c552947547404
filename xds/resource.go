// Package xds serves each connected Envoy its own view of the mesh over ADS,
// in both state-of-the-world and incremental (Delta) variants.
package xds

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"sync"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
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
	// nameHash and hash are hashes of the name, and of the name and
	// version, made once: a type view's hashes combine them
	// (typeview.go) rather than hash every name again per proxy.
	nameHash, hash uint64
}

// newResource is a Resource of a marshaled message, with its hashes.
func newResource(name string, a *anypb.Any) *Resource {
	r := &Resource{Name: name, Version: contentHash(a.Value), Any: a}
	r.nameHash = maphash.String(viewSeed, name)
	r.hash = maphash.Comparable(viewSeed, [2]string{name, r.Version})
	return r
}

// marshalMemo marshals and checks each translated message once. translate
// shares a message by pointer when many proxies get the same one (a
// service's cluster, its endpoints), so keying on the pointer turns "one
// marshal per proxy" into "one marshal per resource" for the life of one
// mesh snapshot. The checks ride along: validated once, like marshaled once.
type marshalMemo struct {
	mu sync.Mutex
	// resolved: this memo's Resources by message and by content, and its
	// checks of virtual hosts.
	resolved
	// previous: the previous memo's, while a change is applied: a message
	// translate made anew with the bytes of one the proxies have (a
	// cluster a route change did not touch) gets that Resource again, its
	// checks not run again, and stays the same pointer in every view; and,
	// when byMessage, a message translate kept from the previous mesh
	// (NewMeshFollowing: the load assignments of services whose endpoints
	// did not change, the clusters) is found by pointer, not marshaled.
	// olderFull: the previous memo's lastFull, looked up the same way.
	previous, olderFull *resolved
	byMessage           bool
	// lastFull: what the memo of the last full push resolved, which was
	// every resource of every view. An endpoint-only push resolves only
	// load assignments (and a changed pod's own listeners): its memo
	// carries lastFull on, and the next full push looks there too, so that
	// the clusters, listeners and virtual hosts no endpoint change touched
	// are not marshaled or checked again. nil in a full push's memo: its
	// own maps are that. (It keeps the last full push's messages alive,
	// most of which translate carries on anyway: clusters, listeners,
	// virtual hosts.)
	lastFull *resolved
	// superseded: a newer memo reads this one's maps (inherit), without
	// this one's lock, so they are written no more. A view still being
	// built on this memo (a proxy that connected as the change came,
	// firstView) gets its Resources all the same, unrecorded.
	superseded bool
	// views interns type views (typeview.go); shared caches the type
	// views of the lists many proxies share: load assignments, clusters
	// (sharedView).
	views  *typeViewTable
	shared map[sharedKey]*TypeView
	lists  *listViews
	// refsChecked caches the cluster-reference check of a route or listener
	// against a set of cluster names (by names hash), shared by the many
	// proxies whose cluster names are the same.
	refsChecked map[refsKey][]string
	anys        anyCache
	problems    *problemLog
}

type contentKey struct{ name, version string }

// resolved is what a memo resolved: its Resources by message and by
// content, and the results of the virtual hosts it checked
// (validate_routes.go).
type resolved struct {
	done      map[proto.Message]*Resource
	byContent map[contentKey]*Resource
	vhosts    vhostChecks
}

// lookup and checks read a resolved that may be nil (none).
func (r *resolved) lookup(msg proto.Message) (*Resource, bool) {
	if r == nil {
		return nil, false
	}
	res, ok := r.done[msg]
	return res, ok
}

func (r *resolved) checks() vhostChecks {
	if r == nil {
		return nil
	}
	return r.vhosts
}

// earlier are what this memo may reuse besides its own: the previous
// memo's, then the last full push's; nil where there is none.
func (m *marshalMemo) earlier() [2]*resolved { return [2]*resolved{m.previous, m.olderFull} }

type refsKey struct {
	r     *Resource
	names uint64
}

func newMarshalMemo(problems *problemLog) *marshalMemo {
	return &marshalMemo{refsChecked: map[refsKey][]string{}, anys: anyCache{}, problems: problems,
		views: newTypeViewTable(), shared: map[sharedKey]*TypeView{}, lists: newListViews(),
		resolved: resolved{done: map[proto.Message]*Resource{}, byContent: map[contentKey]*Resource{}, vhosts: vhostChecks{}}}
}

func (m *marshalMemo) resource(name string, msg proto.Message) (*Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.done[msg]; ok {
		return r, nil
	}
	earlier := m.earlier()
	if m.byMessage {
		for _, e := range earlier {
			if r, ok := e.lookup(msg); ok {
				m.keep(msg, r)
				return r, nil
			}
		}
	}
	a := &anypb.Any{}
	// Deterministic: map fields in a stable order, so that unchanged config
	// gives unchanged bytes, versions, and no needless listener drains.
	if err := anypb.MarshalFrom(a, msg, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("marshal %s %q: %w", msg.ProtoReflect().Descriptor().FullName(), name, err)
	}
	r := newResource(name, a)
	// Of the same bytes: another proxy's message of this snapshot (proxies
	// of the same ports get equal listeners, made apart), or one a
	// proxy has.
	if old := m.sameBytes(r, earlier); old != nil {
		m.keep(msg, old)
		return old, nil
	}
	var opened []proto.Message
	if rc, ok := msg.(*route.RouteConfiguration); ok {
		checked := m.vhosts
		if m.superseded {
			checked = vhostChecks{}
		}
		r.invalid = validateRouteConfiguration(rc, m.anys, checked, earlier[0].checks(), earlier[1].checks())
	} else {
		r.invalid = validate(msg, func(m proto.Message) { opened = append(opened, m) }, m.anys)
	}
	r.refs = references(msg, opened)
	m.keep(msg, r)
	return r, nil
}

// sameBytes is the Resource of r's name and bytes this memo or an earlier
// one has, or nil.
func (m *marshalMemo) sameBytes(r *Resource, earlier [2]*resolved) *Resource {
	for _, e := range [...]*resolved{&m.resolved, earlier[0], earlier[1]} {
		if e == nil {
			continue
		}
		if old := e.byContent[contentKey{r.Name, r.Version}]; old != nil && old.Any.TypeUrl == r.Any.TypeUrl && bytes.Equal(old.Any.Value, r.Any.Value) {
			return old
		}
	}
	return nil
}

// keep records r as msg's Resource. Callers hold m.mu.
func (m *marshalMemo) keep(msg proto.Message, r *Resource) {
	if m.superseded {
		return
	}
	m.done[msg] = r
	m.byContent[contentKey{r.Name, r.Version}] = r
}

// resources is resource for each of msgs, in order. The messages
// marshaled already (all but a few, for every proxy but the first of a
// snapshot) are found under one lock, not one each.
func (m *marshalMemo) resources(msgs []proto.Message) ([]*Resource, error) {
	out := make([]*Resource, len(msgs))
	var missing []int
	m.mu.Lock()
	for i, msg := range msgs {
		if r, ok := m.done[msg]; ok {
			out[i] = r
		} else {
			missing = append(missing, i)
		}
	}
	m.mu.Unlock()
	for _, i := range missing {
		r, err := m.resource(resourceName(msgs[i]), msgs[i])
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
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

// inherit lets the memo reuse prev's Resources, and those of prev's last
// full push, until forgetInherited: of messages with the same bytes, and,
// when byMessage, of the messages translate carried over
// (NewMeshFollowing).
func (m *marshalMemo) inherit(prev *marshalMemo, byMessage bool) {
	if prev == nil {
		return
	}
	prev.mu.Lock()
	prev.superseded = true
	own, full := prev.resolved, prev.lastFull // a copy of the maps, not prev itself
	prev.mu.Unlock()
	m.mu.Lock()
	m.previous, m.olderFull, m.byMessage = &own, full, byMessage
	m.mu.Unlock()
}

// carryLastFull, for an endpoint-only push, keeps what the last full
// push resolved (lastFull) for the next one: the previous memo's lastFull,
// or the previous memo's own when it was a full push's. After inherit.
func (m *marshalMemo) carryLastFull() {
	m.mu.Lock()
	m.lastFull = m.olderFull
	if m.lastFull == nil {
		m.lastFull = m.previous
	}
	m.mu.Unlock()
}

func (m *marshalMemo) forgetInherited() {
	m.mu.Lock()
	m.previous, m.olderFull, m.byMessage = nil, nil, false
	m.mu.Unlock()
}
