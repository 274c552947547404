package translate

import (
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/discovery"
)

// Provenance for `pilotlight explain`: which object, and which field of
// it, each translated Envoy field comes from. The translation records it
// as it builds (the route builder notes the rule index it translates, the
// cluster builder the DestinationRule part it applies), but only in a Mesh
// made by Explain: a serving Mesh has a nil recorder, and every note is a
// no-op on nil, so pushes pay nothing.

// Origin is where a translated field comes from.
type Origin struct {
	Kind  string `json:"kind,omitempty"`  // VirtualService, DestinationRule, Service, Pod...
	Name  string `json:"name,omitempty"`  // namespace/name
	Field string `json:"field,omitempty"` // spec.http[1].timeout
	// Note says what a default or a derivation is ("Istio's default").
	Note string `json:"note,omitempty"`
	// Source is the object's document ("file.yaml#2") in folder mode;
	// Position its file and line once located (Explanation.Locate).
	Source   string `json:"source,omitempty"`
	Position string `json:"position,omitempty"`
}

// fieldOrigin is one Envoy field of a message, relative to it
// ("route.timeout"), and where it comes from.
type fieldOrigin struct {
	path    string
	origins []Origin
}

// provenance maps the messages translation built to their fields' origins.
// Messages are keyed by pointer: the explainer walks the very resources the
// translation returned.
type provenance struct {
	snap  *discovery.Snapshot
	mu    sync.Mutex
	notes map[proto.Message][]fieldOrigin
}

func newProvenance(snap *discovery.Snapshot) *provenance {
	return &provenance{snap: snap, notes: map[proto.Message][]fieldOrigin{}}
}

// note records the origins of one field of msg. It does nothing on a nil
// recorder, which is what a serving Mesh has.
func (p *provenance) note(msg proto.Message, path string, origins ...Origin) {
	if p == nil || len(origins) == 0 {
		return
	}
	for i := range origins {
		if origins[i].Source == "" && origins[i].Kind != "" {
			origins[i].Source = p.snap.Origins[origins[i].Kind+" "+origins[i].Name]
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notes[msg] = append(p.notes[msg], fieldOrigin{path: path, origins: origins})
}

func (p *provenance) of(msg proto.Message) []fieldOrigin {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notes[msg]
}

// objectOrigin names a field of an object.
func objectOrigin(kind string, m discovery.Meta, field string) Origin {
	return Origin{Kind: kind, Name: m.Key(), Field: field}
}

// defaultOrigin is a field no object sets.
func defaultOrigin(note string) Origin { return Origin{Note: note} }

// Explain translates one proxy's view with provenance recorded, and
// returns the view and its explanation. It builds a Mesh of its own, so a
// serving Mesh is never slowed down by it.
func Explain(snap *discovery.Snapshot, p Proxy, opts ...Option) (*Resources, *Explanation) {
	m := NewMesh(snap, opts...)
	m.explain = newProvenance(snap)
	res := m.ForProxy(p)
	return res, m.explain.explain(res)
}
