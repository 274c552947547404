package xds

// heldVersions (Delta) is the version of each resource a proxy holds, by
// name, as it acked them. A proxy mostly holds a type view whole, as the
// response it acked brought it there: the cold sync's thousands of
// resources, then each endpoint change's few on top. That is kept as the
// view itself, which every stream at it shares, plus what differs from
// it, rather than a map of every name per stream.
//
// A name is held at diff's version if diff has it, else at view's unless
// gone has it. gone holds only names of view, and every name of view that
// diff has (so that size is a sum).
type heldVersions struct {
	view *TypeView         // nil: diff alone says what is held
	diff map[string]string // versions that differ from view's, names view lacks
	gone map[string]bool   // names of view not held at view's version
}

func newHeldVersions() *heldVersions { return &heldVersions{} }

// version is the version held under name, if any.
func (h *heldVersions) version(name string) (string, bool) {
	if v, ok := h.diff[name]; ok {
		return v, true
	}
	if h.view == nil || h.gone[name] {
		return "", false
	}
	if r := h.view.Resources[name]; r != nil {
		return r.Version, true
	}
	return "", false
}

// has: some version of name is held.
func (h *heldVersions) has(name string) bool {
	_, ok := h.version(name)
	return ok
}

// size is the number of names held.
func (h *heldVersions) size() int {
	n := len(h.diff)
	if h.view != nil {
		n += len(h.view.sorted) - len(h.gone)
	}
	return n
}

// set records that name is held at version.
func (h *heldVersions) set(name, version string) {
	if r := h.inView(name); r != nil {
		if r.Version == version {
			delete(h.diff, name)
			delete(h.gone, name)
			return
		}
		h.markGone(name)
	}
	if h.diff == nil {
		h.diff = map[string]string{}
	}
	h.diff[name] = version
	h.compact()
}

// remove records that name is not held.
func (h *heldVersions) remove(name string) {
	delete(h.diff, name)
	if h.inView(name) != nil {
		h.markGone(name)
		h.compact()
	}
}

// holdWhole records that exactly tv is held: each of its resources at its
// version, nothing else.
func (h *heldVersions) holdWhole(tv *TypeView) {
	h.view, h.diff, h.gone = tv, nil, nil
}

// whole is the type view held exactly, nil if what is held is not one.
func (h *heldVersions) whole() *TypeView {
	if len(h.diff) == 0 && len(h.gone) == 0 {
		return h.view
	}
	return nil
}

// names calls yield with each name held, until it returns false.
func (h *heldVersions) names(yield func(string) bool) {
	for name := range h.diff {
		if !yield(name) {
			return
		}
	}
	if h.view == nil {
		return
	}
	for _, r := range h.view.sorted {
		if !h.gone[r.Name] && !yield(r.Name) {
			return
		}
	}
}

func (h *heldVersions) inView(name string) *Resource {
	if h.view == nil {
		return nil
	}
	return h.view.Resources[name]
}

func (h *heldVersions) markGone(name string) {
	if h.gone == nil {
		h.gone = map[string]bool{}
	}
	h.gone[name] = true
}

// compact lets go of view once most of what is held differs from it: a
// stream that drifts from its view (its subscription changing, NACKs)
// would otherwise keep an old view alive to save nothing.
func (h *heldVersions) compact() {
	if h.view == nil || max(len(h.diff), len(h.gone)) <= 16+len(h.view.sorted)/4 {
		return
	}
	all := make(map[string]string, h.size())
	for name := range h.names {
		all[name], _ = h.version(name)
	}
	h.view, h.diff, h.gone = nil, all, nil
}
