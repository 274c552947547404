package translate

import "sync"

// carried holds what a mesh made by key (a pod's inbound ports and
// listeners, by pod object; route tables' virtual hosts), for the proxies
// it translates and for the meshes that follow it (NewMeshFollowing). A
// snapshot's objects are never changed: the same pod object is the same
// labels, ports and annotations.
type carried[K comparable, V any] struct {
	mu sync.Mutex
	of map[K]V
}

func newCarried[K comparable, V any]() *carried[K, V] { return &carried[K, V]{of: map[K]V{}} }

func (c *carried[K, V]) get(k K) (V, bool) {
	if c == nil {
		var zero V
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.of[k]
	return v, ok
}

func (c *carried[K, V]) put(k K, v V) {
	c.mu.Lock()
	c.of[k] = v
	c.mu.Unlock()
}

// carry is what a following mesh may take: mine if I made any, else what
// I was given (an endpoint-only change in between makes none).
func (c *carried[K, V]) carry(earlier *carried[K, V]) *carried[K, V] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.of) > 0 {
		return c
	}
	return earlier
}

// lookup is the value for k: mine, else earlier's (then mine too), else
// made (then mine).
func (c *carried[K, V]) lookup(earlier *carried[K, V], k K, make func() V) V {
	if v, ok := c.get(k); ok {
		return v
	}
	v, ok := earlier.get(k)
	if !ok {
		v = make()
	}
	c.put(k, v)
	return v
}
