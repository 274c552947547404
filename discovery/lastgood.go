package discovery

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
// Every kind goes through keepValid (or keep, for Kubernetes types), so a
// new kind gets all of this with one line in Builder.Build or validateRules.

// StillServed ends the reason of a problem on an object whose previous
// valid version is served instead of the current one.
const StillServed = "; the previous valid version is still served"

// ObjectKey names an object across kinds: "VirtualService namespace/name".
func ObjectKey(kind, name string) string { return kind + " " + name }

// lastGood is the last valid version of every object a source has read, by
// ObjectKey. A source's builds run one after the other: it is not safe for
// concurrent use.
type lastGood map[string]any

// pass is one build's use of lastGood.
type pass struct {
	last lastGood // nil: a stateless validation, nothing is remembered
	seen map[string]bool
	// unreadable holds, by ObjectKey, the problems of objects that are in
	// the source but whose current version could not even be decoded.
	unreadable map[string][]Problem
	problems   []Problem
}

func newPass(last lastGood, unreadable []Problem) *pass {
	ps := &pass{last: last, seen: map[string]bool{}, unreadable: map[string][]Problem{}}
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

// keepValid returns the objects of one kind to serve; see keep.
func keepValid[T keyed](ps *pass, kind string, items []T, check func(T) []Problem) []T {
	return keep(ps, kind, items, T.Key, check)
}

// keep returns the objects of one kind to serve: each item that check
// finds no problem with, and, for an item that fails (or an object of this
// kind whose current version was unreadable), its last good version when
// there is one and it passes check now. name gives "namespace/name".
func keep[T any](ps *pass, kind string, items []T, name func(T) string, check func(T) []Problem) []T {
	out := make([]T, 0, len(items))
	for _, item := range items {
		key := ObjectKey(kind, name(item))
		ps.seen[key] = true
		problems := append(checkObjectName(kind, name(item)), check(item)...)
		if len(problems) == 0 {
			ps.remember(key, item)
			out = append(out, item)
			continue
		}
		if prev, ok := previous(ps, key, check); ok {
			out = append(out, prev)
			problems = stillServed(problems)
		}
		ps.problems = append(ps.problems, problems...)
	}
	// Objects of this kind in the source whose current version could not
	// be decoded: only their last good version can be served.
	for _, key := range sortedNames(ps.unreadable) {
		if k, _, _ := strings.Cut(key, " "); k != kind {
			continue
		}
		problems := ps.unreadable[key]
		delete(ps.unreadable, key)
		if ps.seen[key] { // also read in a version that decoded: that one is served
			ps.problems = append(ps.problems, problems...)
			continue
		}
		ps.seen[key] = true
		if prev, ok := previous(ps, key, check); ok {
			out = append(out, prev)
			problems = stillServed(problems)
		}
		ps.problems = append(ps.problems, problems...)
	}
	return out
}

// previous is the last good version of an object, if it has one of type T
// that still passes check.
func previous[T any](ps *pass, key string, check func(T) []Problem) (T, bool) {
	prev, ok := ps.last[key].(T)
	if !ok || len(check(prev)) > 0 {
		var zero T
		return zero, false
	}
	return prev, true
}

func (ps *pass) remember(key string, item any) {
	if ps.last != nil {
		ps.last[key] = item
	}
}

// finish forgets the objects this pass did not see (deleted from the
// source) and returns every problem found, including those of unreadable
// objects of kinds that no keep call handled.
func (ps *pass) finish() []Problem {
	for key := range ps.last {
		if !ps.seen[key] {
			delete(ps.last, key)
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

// keepObjects is keep for Kubernetes API types, named by their metadata.
func keepObjects[T metav1.Object](ps *pass, kind string, items []T, check func(T) []Problem) []T {
	return keep(ps, kind, items, func(o T) string { return o.GetNamespace() + "/" + o.GetName() }, check)
}
