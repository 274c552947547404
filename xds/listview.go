package xds

import (
	"encoding/binary"
	"hash/maphash"
	"reflect"
	"slices"

	"google.golang.org/protobuf/proto"
)

// listViews remembers the type view made of a list of translated
// messages. translate hands thousands of proxies the same messages (a
// scope's clusters, a namespace's route table), so most proxies of a push
// bring a list already seen, element for element: its type view is then
// found by hashing the list's pointers, not by looking up, checking,
// sorting and hashing every resource again per proxy.
//
// Only lists whose resources all passed their checks are remembered: the
// view of one that failed depends on what the proxy had before.
type listViews struct {
	lists map[listKey][]listView
}

// listKey is a list of messages by the identity of its elements, with
// what else the view depends on: its type, and the clusters its
// references are checked against (nil for types that reference none).
type listKey struct {
	typeURL  string
	hash     uint64
	n        int
	clusters *TypeView
}

type listView struct {
	msgs []proto.Message
	tv   *TypeView
}

// maxListsPerKey bounds a bucket of lists with the same key hash (only a
// collision puts two there).
const maxListsPerKey = 4

func newListViews() *listViews { return &listViews{lists: map[listKey][]listView{}} }

// keyOf is a list's key. Messages are pointers that stay put (Go does not
// move heap objects) and that the remembered list keeps alive.
func keyOf(typeURL string, msgs []proto.Message, clusters *TypeView) listKey {
	b := make([]byte, 0, 8*len(msgs))
	for _, m := range msgs {
		b = binary.LittleEndian.AppendUint64(b, uint64(reflect.ValueOf(m).Pointer()))
	}
	return listKey{typeURL: typeURL, hash: maphash.Bytes(viewSeed, b), n: len(msgs), clusters: clusters}
}

// find is the view made of exactly these messages, or nil. Callers hold
// the memo's lock.
func (l *listViews) find(k listKey, msgs []proto.Message) *TypeView {
	for _, lv := range l.lists[k] {
		if slices.Equal(lv.msgs, msgs) {
			return lv.tv
		}
	}
	return nil
}

// add remembers the view of msgs (which the caller no longer changes).
// Callers hold the memo's lock.
func (l *listViews) add(k listKey, msgs []proto.Message, tv *TypeView) {
	if len(l.lists[k]) < maxListsPerKey {
		l.lists[k] = append(l.lists[k], listView{msgs: msgs, tv: tv})
	}
}
