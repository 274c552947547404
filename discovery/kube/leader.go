package kube

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderOptions configure the election of the replica that writes status.
type LeaderOptions struct {
	Client    kubernetes.Interface
	Namespace string // of the Lease
	Name      string // of the Lease
	Identity  string // this replica's holderIdentity

	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	Log *slog.Logger // nil means slog.Default()
}

// Elector takes part in a leader election over a coordination.k8s.io Lease.
type Elector struct {
	opts    LeaderOptions
	leading atomic.Bool
}

// NewElector checks the options (the durations must leave room to renew
// before the lease runs out) and returns an Elector that has not started.
func NewElector(opts LeaderOptions) (*Elector, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	e := &Elector{opts: opts}
	if _, err := leaderelection.NewLeaderElector(e.config(nil)); err != nil {
		return nil, err
	}
	return e, nil
}

// Identity is this replica's name in the Lease.
func (e *Elector) Identity() string { return e.opts.Identity }

// Leading reports whether this replica holds the lease now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Run takes part in the election until ctx is done. Each time this replica
// wins, lead runs with a context that ends when it stops leading. A replica
// that loses the lease stands again: it may win it back once the API server
// is reachable again.
//
// When ctx ends, a leader gives the lease up at once, so that another
// replica takes over without waiting for the lease to expire.
func (e *Elector) Run(ctx context.Context, lead func(context.Context)) {
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(e.config(lead))
		if err != nil {
			e.opts.Log.Error("leader election", "err", err) // NewElector checked the config
			return
		}
		le.Run(ctx)
	}
}

func (e *Elector) config(lead func(context.Context)) leaderelection.LeaderElectionConfig {
	o := e.opts
	return leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name},
			Client:     o.Client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
		},
		Name:            o.Name,
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				e.leading.Store(true)
				o.Log.Info("leading: writing status", "identity", o.Identity, "lease", o.Namespace+"/"+o.Name)
				lead(ctx)
			},
			OnStoppedLeading: func() {
				if e.leading.Swap(false) {
					o.Log.Info("stopped leading", "identity", o.Identity)
				}
			},
			OnNewLeader: func(identity string) {
				o.Log.Info("leader elected", "leader", identity, "self", identity == o.Identity)
			},
		},
	}
}
