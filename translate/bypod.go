package translate

import (
	"sync"

	"github.com/pilotlight/pilotlight/discovery"
)

// byPod holds what a mesh made for each pod object (its inbound ports, a
// sidecar's listeners), for the proxies of the pod and the meshes that
// follow (NewMeshFollowing). A snapshot's objects are never changed: the
// same pod object is the same labels, ports and annotations.
type byPod[T any] struct {
	mu sync.Mutex
	of map[*discovery.Pod]T
}

func newByPod[T any]() *byPod[T] { return &byPod[T]{of: map[*discovery.Pod]T{}} }

func (b *byPod[T]) get(pod *discovery.Pod) (T, bool) {
	if b == nil {
		var zero T
		return zero, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.of[pod]
	return v, ok
}

func (b *byPod[T]) put(pod *discovery.Pod, v T) {
	b.mu.Lock()
	b.of[pod] = v
	b.mu.Unlock()
}

// carry is what a following mesh may take: mine if I made any, else what
// I was given (an endpoint-only change in between makes none).
func (b *byPod[T]) carry(earlier *byPod[T]) *byPod[T] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.of) > 0 {
		return b
	}
	return earlier
}

// lookup is the value for pod: mine, else earlier's (then mine too), else
// made (then mine).
func (b *byPod[T]) lookup(earlier *byPod[T], pod *discovery.Pod, make func() T) T {
	if v, ok := b.get(pod); ok {
		return v
	}
	v, ok := earlier.get(pod)
	if !ok {
		v = make()
	}
	b.put(pod, v)
	return v
}
