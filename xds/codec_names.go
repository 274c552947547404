package xds

import (
	"bytes"
	"hash/maphash"
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// Lists of names in requests: a state-of-the-world request's
// resource_names, a Delta request's resource_names_subscribe. Both are
// field 3, sent as one run of fields.

// readNames reads the run of name fields num that b starts with: the
// list some request sent before (lists), or decoded and remembered. It
// returns the list and the bytes read; -1 when protobuf must decide.
func readNames(b []byte, num protowire.Number, names map[string]string, lists *nameLists) ([]string, int) {
	if list, n := lists.find(b, num); list != nil {
		return list, n
	}
	run := namesRun(b, num)
	if len(run) == 0 {
		// No whole field (a length past the end): protobuf's error. Going
		// on would read the same byte again, forever.
		return nil, -1
	}
	list, ok := decodeNames(run, names)
	if !ok {
		return nil, -1
	}
	lists.add(run, list)
	return list, len(run)
}

// decodeNames decodes a run of name fields (namesRun).
func decodeNames(run []byte, names map[string]string) ([]string, bool) {
	var list []string
	for len(run) > 0 {
		_, _, n := protowire.ConsumeTag(run)
		v, m := protowire.ConsumeBytes(run[n:])
		var ok bool
		if list, ok = appendName(list, v, names); !ok {
			return nil, false
		}
		run = run[n+m:]
	}
	return list, true
}

// appendName appends a name, as the server's own string when it has one;
// false when it is not UTF-8.
func appendName(list []string, v []byte, names map[string]string) ([]string, bool) {
	name, ok := names[string(v)] // no copy to look it up
	if !ok {
		if name, ok = validString(v); !ok {
			return list, false
		}
	}
	return append(list, name), true
}

// namesRun is the run of fields num (of bytes) that b starts with.
func namesRun(b []byte, num protowire.Number) []byte {
	end := 0
	for end < len(b) {
		got, typ, n := protowire.ConsumeTag(b[end:])
		if n < 0 || got != num || typ != protowire.BytesType {
			break
		}
		_, m := protowire.ConsumeBytes(b[end+n:])
		if m < 0 {
			break
		}
		end += n + m
	}
	return b[:end]
}

// nameLists are the name lists requests sent, decoded, by their bytes
// (a run of resource_names fields), for the requests that send them again.
// The lists are shared, read-only: the cache never changes a request's
// names in place (asked.go).
//
// A list is found by its first headBytes, then compared whole: finding
// where a run of 3,000 fields ends, and hashing all of it, cost more than
// comparing it with the one it turns out to be.
type nameLists struct {
	seed   maphash.Seed
	mu     sync.Mutex
	byHead map[uint64][]nameList // newest last
	count  int
}

type nameList struct {
	run   []byte
	names []string
}

const (
	// minListBytes: shorter lists are decoded as they come.
	minListBytes = 1 << 10
	// headBytes of a run find the lists it may be; their last tailBytes
	// are compared before the rest.
	headBytes, tailBytes = 256, 64
	// maxListsPerHead bounds the lists kept with the same first names
	// (sidecars of different scopes that all reach a few services first,
	// or a service added while some sidecars still have the list before).
	maxListsPerHead = 64
)

func newNameLists() *nameLists {
	return &nameLists{seed: maphash.MakeSeed(), byHead: map[uint64][]nameList{}}
}

// find returns the names of the run sent before that b starts with, and
// its length in b; nil when there is none. The run must end where b's
// fields num do (as namesRun would find it): a run that b merely starts
// with, followed by more names, is not the list b holds.
func (l *nameLists) find(b []byte, num protowire.Number) ([]string, int) {
	if len(b) < minListBytes {
		return nil, 0
	}
	key := maphash.Bytes(l.seed, b[:headBytes])
	l.mu.Lock()
	lists := l.byHead[key] // never changed in place: add appends or replaces
	l.mu.Unlock()
	for i := len(lists) - 1; i >= 0; i-- {
		run := lists[i].run
		// Cheap tests first, so that only the list b holds is compared
		// whole: where b's names would end, and how the run ends.
		if len(run) > len(b) || startsWithField(b[len(run):], num) {
			continue
		}
		tail := max(len(run)-tailBytes, 0)
		if bytes.Equal(b[tail:len(run)], run[tail:]) && bytes.Equal(b[:tail], run[:tail]) {
			return lists[i].names, len(run)
		}
	}
	return nil, 0
}

// startsWithField reports whether b starts with a bytes field num.
func startsWithField(b []byte, num protowire.Number) bool {
	got, typ, n := protowire.ConsumeTag(b)
	return n > 0 && got == num && typ == protowire.BytesType
}

// add remembers the names a run of fields (namesRun) decoded to. The
// run's first bytes are its tag: runs of different fields never match.
func (l *nameLists) add(run []byte, names []string) {
	if len(run) < minListBytes {
		return
	}
	key := maphash.Bytes(l.seed, run[:headBytes])
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count >= maxNameSets {
		clear(l.byHead)
		l.count = 0
	}
	lists := l.byHead[key]
	if len(lists) >= maxListsPerHead {
		// A new slice, not a shift in place: find may be reading this one.
		lists = slices.Clone(lists[1:])
		l.count--
	}
	l.byHead[key] = append(lists, nameList{run: bytes.Clone(run), names: slices.Clip(names)})
	l.count++
}
