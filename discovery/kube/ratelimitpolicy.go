package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	istiometa "istio.io/api/meta/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	kjson "sigs.k8s.io/json"

	ratelimitv1alpha1 "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/discovery"
)

// RateLimitPolicies (our own CRD, deploy/crds) are read with a dynamic
// informer: the Go types are plain structs (api/ratelimit/v1alpha1), with
// no generated clientset. Their status is written in Istio's shape, as on
// VirtualServices.

// policyInformer watches RateLimitPolicies.
type policyInformer struct {
	factory  dynamicinformer.DynamicSharedInformerFactory
	informer cache.SharedIndexInformer
	client   dynamic.NamespaceableResourceInterface
}

// newPolicyInformer returns nil when there is no dynamic client, or when
// the API server does not serve the CRD (it is not installed): then no
// RateLimitPolicy is read, and readiness does not wait for one that never
// comes. Installing the CRD later takes a restart.
func newPolicyInformer(kc kubernetes.Interface, dyn dynamic.Interface, log *slog.Logger) *policyInformer {
	if dyn == nil {
		return nil
	}
	gv := ratelimitv1alpha1.GroupVersion.String()
	if _, err := kc.Discovery().ServerResourcesForGroupVersion(gv); err != nil {
		log.Warn("RateLimitPolicy CRD not served; RateLimitPolicies are not read (kubectl apply -k deploy/ installs it)", "groupVersion", gv, "error", err)
		return nil
	}
	f := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	return &policyInformer{
		factory:  f,
		informer: f.ForResource(ratelimitv1alpha1.Resource).Informer(),
		client:   dyn.Resource(ratelimitv1alpha1.Resource),
	}
}

func (p *policyInformer) list() ([]*unstructured.Unstructured, error) {
	if p == nil {
		return nil, nil
	}
	var out []*unstructured.Unstructured
	for _, o := range p.informer.GetStore().List() {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	sortObjects(out)
	return out, nil
}

// ratelimitPolicies converts what the cache holds, strictly (a misspelt
// field is a problem of the object, as in a folder), and notes each
// object's generation for the status writer.
func ratelimitPolicies(items []*unstructured.Unstructured, r *report) ([]*discovery.RateLimitPolicy, []discovery.Problem) {
	var out []*discovery.RateLimitPolicy
	var problems []discovery.Problem
	for _, u := range items {
		name := namespacedName(u)
		r.generations[objectKey(ratelimitv1alpha1.Kind, name)] = u.GetGeneration()
		p, err := policyOf(u)
		if err != nil {
			problems = append(problems, discovery.Problem{Source: name, Kind: ratelimitv1alpha1.Kind, Name: name, Reason: err.Error()})
			continue
		}
		out = append(out, p)
	}
	return out, problems
}

func policyOf(u *unstructured.Unstructured) (*discovery.RateLimitPolicy, error) {
	js, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	obj := &ratelimitv1alpha1.RateLimitPolicy{}
	strict, err := kjson.UnmarshalStrict(js, obj)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	return &discovery.RateLimitPolicy{Meta: discovery.MetaOf(ratelimitv1alpha1.Kind, obj), Spec: &obj.Spec}, nil
}

// writeAll writes the status of every RateLimitPolicy whose status differs
// from what the report says (see statusKind.writeAll).
func (p *policyInformer) writeAll(ctx context.Context, r *report, now time.Time, log *slog.Logger) error {
	items, _ := p.list()
	var errs []error
	for _, u := range items {
		key := objectKey(ratelimitv1alpha1.Kind, namespacedName(u))
		generation, seen := r.generations[key]
		if !seen || generation != u.GetGeneration() {
			continue
		}
		problems := r.problems[key]
		if Status(unstructuredStatus(u), problems, generation, now) == nil {
			continue
		}
		if err := p.write(ctx, u, problems, generation, now); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", ratelimitv1alpha1.Kind, namespacedName(u), err))
			continue
		}
		log.Info("wrote status", "kind", ratelimitv1alpha1.Kind, "name", namespacedName(u), "valid", len(problems) == 0)
	}
	return errors.Join(errs...)
}

// write updates the status subresource, retrying on a conflict unless the
// spec changed meanwhile.
func (p *policyInformer) write(ctx context.Context, u *unstructured.Unstructured, problems []discovery.Problem, generation int64, now time.Time) error {
	client := p.client.Namespace(u.GetNamespace())
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		want := Status(unstructuredStatus(u), problems, generation, now)
		if want == nil || u.GetGeneration() != generation {
			return nil
		}
		status, err := statusObject(want)
		if err != nil {
			return err
		}
		next := u.DeepCopy() // never change what the cache holds
		next.Object["status"] = status
		_, err = client.UpdateStatus(ctx, next, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, getErr := client.Get(ctx, u.GetName(), metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			u = fresh
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// unstructuredStatus reads an object's status as Istio's status (nil when
// there is none or it is not in that shape).
func unstructuredStatus(u *unstructured.Unstructured) *istiometa.IstioStatus {
	raw, ok := u.Object["status"]
	if !ok {
		return nil
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	s := &istiometa.IstioStatus{}
	if protojson.Unmarshal(js, s) != nil {
		return nil
	}
	return s
}

func statusObject(s *istiometa.IstioStatus) (map[string]any, error) {
	js, err := protojson.Marshal(s)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	err = json.Unmarshal(js, &out)
	return out, err
}

// start and shutdown the informer's factory (nil-safe).
func (p *policyInformer) start(stop <-chan struct{}) {
	if p != nil {
		p.factory.Start(stop)
	}
}

func (p *policyInformer) shutdown() {
	if p != nil {
		p.factory.Shutdown()
	}
}
