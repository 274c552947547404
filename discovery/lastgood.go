package discovery

// Last-good config, per object.
//
// A typo in an edit (weights that add up to 110, a field misspelt, a YAML
// indent) must not move production traffic. So a source remembers, for
// every object (kind, namespace, name), the last version of it that passed
// validation. When the current version fails, the last good one is served
// instead, and the problem says so. The last good copy is forgotten only
// when the object is deleted from the source, or replaced by a version that
// passes. An object that was never valid has no last good copy, and is
// skipped as before.
//
// A last good copy is checked again, against the rest of the mesh as it is
// now, before it is served: a VirtualService whose subset was removed
// since is not served in either version, as it would route to nothing.
//
// Every kind goes through keepValid (or keepSelfContained, or keepObjects
// for Kubernetes types), so a new kind gets all of this with one line in
// Builder.Build or validateRules.

import (
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StillServed ends the reason of a problem on an object whose previous
// valid version is served instead of the current one.
const StillServed = "; the previous valid version is still served"

// ObjectKey names an object across kinds: "VirtualService namespace/name".
func ObjectKey(kind, name string) string { return kind + " " + name }

// history is what a Builder keeps from one build to the next. A source's
// builds run one after the other: it is not safe for concurrent use.
type history struct {
	build uint64 // the current build, counted from 1
	// last is the last valid version of every object, by ObjectKey.
	last map[string]*lastGood
	// memo is, by object (a pointer a source hands over again while the
	// object is unchanged), what was worked out about it: so that a build
	// after an edit costs little for the objects the edit did not touch.
	memo map[any]*memo
	// validator is the last build's VirtualService Validator, and
	// validatorID numbers its inputs: the same number while they are the
	// same (validatorContext).
	validator   *Validator
	validatorID uint64
	// endpoints are the services' endpoints made from slices, by service
	// key (build.go).
	endpoints map[string]*endpointsMemo
}

type lastGood struct {
	item any
	seen uint64 // the last build that saw the object
}

type memo struct {
	key     string
	checked bool // problems is the result of a check that depends on the object alone
	// checkedIn: problems is the result of a check in this context
	// (keepInContext), 0 for none.
	checkedIn uint64
	problems  []Problem
	model     any // the object's snapshot form (a *Service for a *corev1.Service)
	seen      uint64
}

func newHistory() *history {
	return &history{last: map[string]*lastGood{}, memo: map[any]*memo{}, endpoints: map[string]*endpointsMemo{}}
}

// pass is one build's use of the history.
type pass struct {
	h *history
	// unreadable holds, by ObjectKey, the problems of objects that are in
	// the source but whose current version could not even be decoded.
	unreadable map[string][]Problem
	// read holds the keys of objects that were read, while there are
	// unreadable ones: an object can be both (two copies in a folder).
	read     map[string]bool
	problems []Problem
}

func newPass(h *history, unreadable []Problem) *pass {
	h.build++
	ps := &pass{h: h, unreadable: map[string][]Problem{}, read: map[string]bool{}}
	for _, p := range unreadable {
		if p.Kind == "" || p.Name == "" {
			ps.problems = append(ps.problems, p) // nothing to keep serving
			continue
		}
		key := ObjectKey(p.Kind, p.Name)
		ps.unreadable[key] = append(ps.unreadable[key], p)
	}
	return ps
}

// keyed is a snapshot object: it has a Meta.
type keyed interface{ Key() string }

// keepValid returns the objects of one kind to serve; see keep. Use it
// when check depends on more than the object (the VirtualService checks
// read services and DestinationRules).
func keepValid[T keyed](ps *pass, kind string, items []T, check func(T) []Problem) []T {
	return keep(ps, kind, items, T.Key, check, false, 0)
}

// keepInContext is keepValid for a check that depends on the object and a
// context (what else it reads), numbered by ctx: its result is remembered
// per item while the context number is the same.
func keepInContext[T keyed](ps *pass, kind string, items []T, check func(T) []Problem, ctx uint64) []T {
	return keep(ps, kind, items, T.Key, check, false, ctx)
}

// keepSelfContained is keepValid for a check that depends on the object
// alone: its result is remembered while the object is unchanged.
func keepSelfContained[T keyed](ps *pass, kind string, items []T, check func(T) []Problem) []T {
	return keep(ps, kind, items, T.Key, check, true, 0)
}

// keepObjects is keepSelfContained for Kubernetes API types.
func keepObjects[T metav1.Object](ps *pass, kind string, items []T, check func(T) []Problem) []T {
	return keep(ps, kind, items, func(o T) string { return o.GetNamespace() + "/" + o.GetName() }, check, true, 0)
}

// keep returns the objects of one kind to serve: each item that check
// finds no problem with, and, for an item that fails (or an object of this
// kind whose current version was unreadable), its last good version when
// there is one and it passes check now. name gives "namespace/name". With
// selfContained, check's result is remembered per item (a pointer); with
// a context number (not 0), while the number is the same.
func keep[T any](ps *pass, kind string, items []T, name func(T) string, check func(T) []Problem, selfContained bool, ctx uint64) []T {
	out := make([]T, 0, len(items))
	byIdentity := reflect.TypeFor[T]().Kind() == reflect.Pointer
	for _, item := range items {
		m := memoOf(ps, kind, item, name, byIdentity)
		if len(ps.unreadable) > 0 {
			ps.read[m.key] = true
		}
		problems := m.problems
		if !m.checked && (ctx == 0 || m.checkedIn != ctx) {
			problems = append(checkObjectName(kind, name(item)), check(item)...)
			m.problems, m.checked, m.checkedIn = problems, selfContained, ctx
		}
		errs := errorsOf(problems)
		if len(errs) == 0 { // none, or warnings only: served
			ps.remember(m.key, item)
			out = append(out, item)
			ps.problems = append(ps.problems, problems...)
			continue
		}
		if prev, ok := previous(ps, m.key, check); ok {
			out = append(out, prev)
			errs = stillServed(errs)
		}
		ps.problems = append(ps.problems, errs...)
	}
	// Objects of this kind in the source whose current version could not
	// be decoded: only their last good version can be served.
	for _, key := range sortedNames(ps.unreadable) {
		if k, _, _ := strings.Cut(key, " "); k != kind {
			continue
		}
		problems := ps.unreadable[key]
		delete(ps.unreadable, key)
		if ps.read[key] { // also read in a version that decoded: that one is served
			ps.problems = append(ps.problems, problems...)
			continue
		}
		if prev, ok := previous(ps, key, check); ok {
			out = append(out, prev)
			problems = stillServed(problems)
		}
		ps.problems = append(ps.problems, problems...)
	}
	return out
}

// memoOf returns what is known of an item, creating it the first time;
// the item is seen in this build. Only pointers are remembered (by
// identity: a source hands the same pointer over while the object is
// unchanged); anything else gets a fresh memo each time.
func memoOf[T any](ps *pass, kind string, item T, name func(T) string, byIdentity bool) *memo {
	if byIdentity {
		if m := ps.h.memo[item]; m != nil {
			m.seen = ps.h.build
			return m
		}
	}
	m := &memo{key: ObjectKey(kind, name(item)), seen: ps.h.build}
	if byIdentity {
		ps.h.memo[item] = m
	}
	return m
}

// previous is the last good version of an object, if it has one of type T
// that still passes check. The object is seen in this build.
func previous[T any](ps *pass, key string, check func(T) []Problem) (T, bool) {
	var zero T
	e := ps.h.last[key]
	if e == nil {
		return zero, false
	}
	e.seen = ps.h.build
	prev, ok := e.item.(T)
	if !ok || len(errorsOf(check(prev))) > 0 {
		return zero, false
	}
	return prev, true
}

// validatorContext numbers what VirtualService checks read: the same
// number as the last build's while v checks against the same services and
// subsets (an endpoint-only change), so that unchanged VirtualServices are
// not checked again; a new one otherwise.
func (h *history) validatorContext(v *Validator) uint64 {
	if !v.sameAs(h.validator) {
		h.validatorID++
	}
	h.validator = v
	return h.validatorID
}

func (ps *pass) remember(key string, item any) {
	if e := ps.h.last[key]; e != nil {
		e.item, e.seen = item, ps.h.build
		return
	}
	ps.h.last[key] = &lastGood{item: item, seen: ps.h.build}
}

// finish forgets the objects this pass did not see (deleted from the
// source) and returns every problem found, including those of unreadable
// objects of kinds that no keep call handled.
func (ps *pass) finish() []Problem {
	for key, e := range ps.h.last {
		if e.seen != ps.h.build {
			delete(ps.h.last, key)
		}
	}
	for item, m := range ps.h.memo {
		if m.seen != ps.h.build {
			delete(ps.h.memo, item)
		}
	}
	for key, m := range ps.h.endpoints {
		if m.seen != ps.h.build {
			delete(ps.h.endpoints, key)
		}
	}
	for _, key := range sortedNames(ps.unreadable) {
		ps.problems = append(ps.problems, ps.unreadable[key]...)
	}
	return ps.problems
}

func stillServed(problems []Problem) []Problem {
	out := make([]Problem, len(problems))
	for i, p := range problems {
		p.Reason += StillServed
		out[i] = p
	}
	return out
}
