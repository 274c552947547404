// Package kube serves the mesh from a Kubernetes API server: Services, Pods
// and EndpointSlices, and Istio's VirtualServices, DestinationRules and
// Gateways, read with client-go shared informers.
//
// Events only mark the mesh dirty. A single loop then rebuilds the snapshot
// from the informers' caches (no request to the API server) and publishes it
// when it differs from the last one, so a burst of events costs one rebuild
// and a change that means nothing to the mesh (a status write, a pod's
// container restart count) costs no push at all.
//
// The elected leader also writes Istio-style status on invalid objects (see
// WriteStatus); every replica serves.
package kube

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/pilotlight/pilotlight/discovery"
)

// DefaultSettle is how long the source waits after a change for more to
// come before it rebuilds. A rollout changes a pod, its EndpointSlice and
// the pod again within milliseconds; one rebuild should see them all.
const DefaultSettle = 20 * time.Millisecond

// Options configure a Source.
type Options struct {
	Kube  kubernetes.Interface
	Istio istioclient.Interface
	// Dynamic reads RateLimitPolicies (our own CRD); nil: none are read.
	Dynamic dynamic.Interface
	Log     *slog.Logger // nil means slog.Default()
	// Settle is the quiet time before a rebuild; zero means DefaultSettle.
	Settle time.Duration
	// RootNamespace is Istio's meshConfig.rootNamespace; "" means
	// discovery.DefaultRootNamespace.
	RootNamespace string
}

// Source is the mesh as the API server has it.
type Source struct {
	log    *slog.Logger
	settle time.Duration
	inf    *informers
	status *statusWriter
	// builder remembers the last good version of every object, so that an
	// edit that breaks one keeps its previous version served.
	builder *discovery.Builder

	dirty   chan struct{} // one token while a rebuild is due
	version uint64
	last    *discovery.Snapshot // the last published snapshot

	// report holds the problems of the last build, for the status writer.
	report  atomic.Pointer[report]
	reports chan struct{} // one token while a report is unread
}

// New sets up the informers. Nothing is read until Run.
func New(opts Options) (*Source, error) {
	s := &Source{
		log:     opts.Log,
		settle:  opts.Settle,
		dirty:   make(chan struct{}, 1),
		reports: make(chan struct{}, 1),
		builder: discovery.NewBuilder(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.settle <= 0 {
		s.settle = DefaultSettle
	}
	inf, err := newInformers(opts.Kube, opts.Istio, opts.Dynamic, s.log, s.markDirty)
	if err != nil {
		return nil, err
	}
	inf.rootNamespace = opts.RootNamespace
	s.inf = inf
	s.status = newStatusWriter(opts.Istio, inf, s.log)
	return s, nil
}

// Run starts the informers, publishes the first snapshot once they have all
// synced, then a new one after each change, until ctx is done; it returns
// nil then.
//
// While the API server is unreachable the informers keep their caches and
// retry by themselves: nothing is rebuilt, so the last snapshot keeps
// being served. A source never publishes a mesh it could not read.
func (s *Source) Run(ctx context.Context, publish func(*discovery.Snapshot)) error {
	s.inf.start(ctx)
	defer s.inf.shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.inf.synced...) {
		return nil // ctx is done
	}
	s.log.Info("kubernetes informers synced")
	// The initial lists marked the mesh dirty; the first build reads them.
	s.takeDirty()
	s.rebuild(publish)

	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.dirty:
			// Events during the wait only leave a token behind, which
			// starts no new wait: the rebuild reads the caches after them.
			if settle == nil {
				settle = time.After(s.settle)
			}
		case <-settle:
			settle = nil
			s.takeDirty()
			s.rebuild(publish)
		}
	}
}

// Synced reports whether every informer has listed its kind and handed the
// objects to the source.
func (s *Source) Synced() bool {
	for _, synced := range s.inf.synced {
		if !synced() {
			return false
		}
	}
	return true
}

// markDirty is every informer's event handler. It never blocks: one pending
// token stands for any number of changes.
func (s *Source) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

func (s *Source) takeDirty() {
	select {
	case <-s.dirty:
	default:
	}
}

// rebuild builds a snapshot from the caches and publishes it unless it is
// the same as the last one.
func (s *Source) rebuild(publish func(*discovery.Snapshot)) {
	snap, r, err := s.inf.snapshot(s.builder, s.version+1)
	if err != nil {
		s.log.Error("building mesh snapshot; keeping the last one", "err", err)
		return
	}
	s.setReport(r)
	if s.last != nil && unchanged(s.last, snap) {
		return
	}
	logNewProblems(s.log, s.last, snap)
	s.version, s.last = snap.Version, snap
	publish(snap)
}

// logNewProblems logs the problems that prev did not have: each once, when
// it appears, not at every rebuild.
func logNewProblems(log *slog.Logger, prev, next *discovery.Snapshot) {
	seen := map[discovery.Problem]bool{}
	if prev != nil {
		for _, p := range prev.Problems {
			seen[p] = true
		}
	}
	for _, p := range next.Problems {
		if !seen[p] {
			log.Warn("skipped invalid config", "source", p.Source, "kind", p.Kind, "name", p.Name, "field", p.Field, "reason", p.Reason)
		}
	}
}
