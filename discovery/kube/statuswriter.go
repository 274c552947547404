package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	istiometa "istio.io/api/meta/v1alpha1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	telemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"

	"github.com/pilotlight/pilotlight/discovery"
)

// StatusRetry is how long the status writer waits before trying again
// after a failed write, when no new build comes first.
const StatusRetry = 5 * time.Second

// WriteStatus keeps the status of Istio objects in step with the problems
// of each build, until ctx is done. Run it while Run runs, and only on the
// elected leader: status is one writer's job, and replicas racing to write
// it would only fight over resourceVersions.
//
// A write changes only status, which changes no snapshot, so it triggers a
// rebuild that publishes nothing and a pass here that writes nothing.
func (s *Source) WriteStatus(ctx context.Context) {
	for {
		// This pass reads the newest report: a token left by an older one
		// would only bring a second pass over the same report, before the
		// cache shows what this one wrote.
		select {
		case <-s.reports:
		default:
		}
		var again <-chan time.Time
		if r := s.report.Load(); r != nil {
			if err := s.status.write(ctx, r); err != nil && ctx.Err() == nil {
				s.log.Warn("writing status; will try again", "err", err)
				again = time.After(StatusRetry)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.reports:
		case <-again:
		}
	}
}

// setReport hands the status writer the result of a build.
func (s *Source) setReport(r *report) {
	s.report.Store(r)
	select {
	case s.reports <- struct{}{}:
	default:
	}
}

// statusWriter writes the status of each kind that pilotlight validates.
type statusWriter struct {
	log   *slog.Logger
	now   func() time.Time
	kinds []func(context.Context, *report, time.Time, *slog.Logger) error
}

func newStatusWriter(c istioclient.Interface, inf *informers, log *slog.Logger) *statusWriter {
	n, sec, tel := c.NetworkingV1(), c.SecurityV1(), c.TelemetryV1()
	w := &statusWriter{log: log, now: time.Now, kinds: []func(context.Context, *report, time.Time, *slog.Logger) error{
		statusKind[*istiov1.VirtualService]{
			kind:   "VirtualService",
			list:   inf.virtualServices.List,
			client: func(ns string) statusClient[*istiov1.VirtualService] { return n.VirtualServices(ns) },
			status: func(o *istiov1.VirtualService) *istiometa.IstioStatus { return &o.Status },
		}.writeAll,
		statusKind[*istiov1.DestinationRule]{
			kind:   "DestinationRule",
			list:   inf.destinationRules.List,
			client: func(ns string) statusClient[*istiov1.DestinationRule] { return n.DestinationRules(ns) },
			status: func(o *istiov1.DestinationRule) *istiometa.IstioStatus { return &o.Status },
		}.writeAll,
		statusKind[*istiov1.Gateway]{
			kind:   "Gateway",
			list:   inf.gateways.List,
			client: func(ns string) statusClient[*istiov1.Gateway] { return n.Gateways(ns) },
			status: func(o *istiov1.Gateway) *istiometa.IstioStatus { return &o.Status },
		}.writeAll,
		statusKind[*istiov1.Sidecar]{
			kind:   "Sidecar",
			list:   inf.sidecars.List,
			client: func(ns string) statusClient[*istiov1.Sidecar] { return n.Sidecars(ns) },
			status: func(o *istiov1.Sidecar) *istiometa.IstioStatus { return &o.Status },
		}.writeAll,
		statusKind[*securityv1.AuthorizationPolicy]{
			kind:   "AuthorizationPolicy",
			list:   inf.authorizationPolicies.List,
			client: func(ns string) statusClient[*securityv1.AuthorizationPolicy] { return sec.AuthorizationPolicies(ns) },
			status: func(o *securityv1.AuthorizationPolicy) *istiometa.IstioStatus { return &o.Status },
		}.writeAll,
		statusKind[*securityv1.RequestAuthentication]{
			kind:   "RequestAuthentication",
			list:   inf.requestAuthentications.List,
			client: func(ns string) statusClient[*securityv1.RequestAuthentication] { return sec.RequestAuthentications(ns) },
			status: func(o *securityv1.RequestAuthentication) *istiometa.IstioStatus { return &o.Status },
		}.writeAll,
		statusKind[*securityv1.PeerAuthentication]{
			kind:   "PeerAuthentication",
			list:   inf.peerAuths.List,
			client: func(ns string) statusClient[*securityv1.PeerAuthentication] { return sec.PeerAuthentications(ns) },
			status: func(o *securityv1.PeerAuthentication) *istiometa.IstioStatus { return &o.Status },
		}.writeAll,
		statusKind[*telemetryv1.Telemetry]{
			kind:   "Telemetry",
			list:   inf.telemetries.List,
			client: func(ns string) statusClient[*telemetryv1.Telemetry] { return tel.Telemetries(ns) },
			status: func(o *telemetryv1.Telemetry) *istiometa.IstioStatus { return &o.Status },
		}.writeAll,
	}}
	if inf.rateLimits != nil {
		w.kinds = append(w.kinds, inf.rateLimits.writeAll)
	}
	return w
}

func (w *statusWriter) write(ctx context.Context, r *report) error {
	var errs []error
	now := w.now()
	for _, writeAll := range w.kinds {
		errs = append(errs, writeAll(ctx, r, now, w.log))
	}
	return errors.Join(errs...)
}

// istioObject is a pointer to a client-go Istio type.
type istioObject[T any] interface {
	metav1.Object
	DeepCopy() T
}

// statusClient is the part of a typed Istio client that writes status.
type statusClient[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	UpdateStatus(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// statusKind is how to read and write the status of one Istio kind.
type statusKind[T istioObject[T]] struct {
	kind   string
	list   func(labels.Selector) ([]T, error) // from the cache
	client func(namespace string) statusClient[T]
	status func(T) *istiometa.IstioStatus
}

// writeAll writes the status of every object of the kind whose status
// differs from what the report says. Comparing against the cache costs no
// request; only a status that must change is written.
func (k statusKind[T]) writeAll(ctx context.Context, r *report, now time.Time, log *slog.Logger) error {
	objs, err := k.list(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	for _, obj := range objs {
		key := objectKey(k.kind, namespacedName(obj))
		generation, seen := r.generations[key]
		// The build judged another version of the spec (or none): a build
		// that saw this one is on its way, and will say.
		if !seen || generation != obj.GetGeneration() {
			continue
		}
		// A warning (an ignored field) leaves the object served: status
		// says why an object is refused, and this one is not.
		problems := discovery.Errors(r.problems[key])
		if Status(k.status(obj), problems, generation, now) == nil {
			continue
		}
		if err := k.write(ctx, obj, problems, generation, now); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", k.kind, namespacedName(obj), err))
			continue
		}
		log.Info("wrote status", "kind", k.kind, "name", namespacedName(obj), "valid", len(problems) == 0)
	}
	return errors.Join(errs...)
}

// write updates the status of obj with the status subresource. When someone
// else changed the object meanwhile, it reads the object again and retries,
// unless the spec changed: then these problems are stale.
func (k statusKind[T]) write(ctx context.Context, obj T, problems []discovery.Problem, generation int64, now time.Time) error {
	client := k.client(obj.GetNamespace())
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		want := Status(k.status(obj), problems, generation, now)
		if want == nil || obj.GetGeneration() != generation {
			return nil
		}
		next := obj.DeepCopy() // never change what the cache holds
		status := k.status(next)
		proto.Reset(status)
		proto.Merge(status, want)
		_, err := client.UpdateStatus(ctx, next, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, getErr := client.Get(ctx, obj.GetName(), metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			obj = fresh
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: nothing to explain
	}
	return err
}
