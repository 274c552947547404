package kube

import (
	"errors"
	"reflect"
	"sort"

	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	istiov1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	telemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/pilotlight/pilotlight/discovery"
)

// report is what one build tells the status writer: the problems of each
// Istio object, and the generation of every Istio object the build saw.
// Both are keyed by objectKey.
type report struct {
	problems    map[string][]discovery.Problem
	generations map[string]int64
}

// objectKey names an object across kinds: "VirtualService namespace/name",
// from its kind and the "namespace/name" that a Problem's Name holds.
func objectKey(kind, name string) string { return discovery.ObjectKey(kind, name) }

func namespacedName(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// snapshot builds a sealed snapshot from the caches. Listing a cache never
// calls the API server, so this is cheap enough to do after every change.
// b remembers the last good version of each object across builds.
func (inf *informers) snapshot(b *discovery.Builder, version uint64) (*discovery.Snapshot, *report, error) {
	c, err := inf.list()
	if err != nil {
		return nil, nil, err
	}
	r := &report{problems: map[string][]discovery.Problem{}, generations: map[string]int64{}}
	// A policy that does not decode is unreadable: its last good version
	// is served, as for a misspelt field in a folder.
	rateLimits, unreadable := ratelimitPolicies(c.rateLimits, r)
	s := b.Build(discovery.Input{
		Services:       c.services,
		Pods:           c.pods,
		EndpointSlices: c.slices,
		Secrets:        c.secrets,
		VirtualServices: convert(c.virtualServices, r, "VirtualService", func(o *istiov1.VirtualService, m discovery.Meta) *discovery.VirtualService {
			return &discovery.VirtualService{Meta: m, Spec: &o.Spec}
		}),
		DestinationRules: convert(c.destinationRules, r, "DestinationRule", func(o *istiov1.DestinationRule, m discovery.Meta) *discovery.DestinationRule {
			return &discovery.DestinationRule{Meta: m, Spec: &o.Spec}
		}),
		Gateways: convert(c.gateways, r, "Gateway", func(o *istiov1.Gateway, m discovery.Meta) *discovery.Gateway {
			return &discovery.Gateway{Meta: m, Spec: &o.Spec}
		}),
		PeerAuthentications: convert(c.peerAuths, r, "PeerAuthentication", func(o *securityv1.PeerAuthentication, m discovery.Meta) *discovery.PeerAuthentication {
			return &discovery.PeerAuthentication{Meta: m, Created: o.CreationTimestamp.Time, Spec: &o.Spec}
		}),
		Sidecars: convert(c.sidecars, r, "Sidecar", func(o *istiov1.Sidecar, m discovery.Meta) *discovery.Sidecar {
			return &discovery.Sidecar{Meta: m, Created: o.CreationTimestamp.Time, Spec: &o.Spec}
		}),
		EnvoyFilters: convert(c.envoyFilters, r, "EnvoyFilter", func(o *istiov1alpha3.EnvoyFilter, m discovery.Meta) *discovery.EnvoyFilter {
			return &discovery.EnvoyFilter{Meta: m, Spec: &o.Spec}
		}),
		RateLimitPolicies: rateLimits,
		AuthorizationPolicies: convert(c.authorizationPolicies, r, "AuthorizationPolicy", func(o *securityv1.AuthorizationPolicy, m discovery.Meta) *discovery.AuthorizationPolicy {
			return &discovery.AuthorizationPolicy{Meta: m, Spec: &o.Spec}
		}),
		RequestAuthentications: convert(c.requestAuthentications, r, "RequestAuthentication", func(o *securityv1.RequestAuthentication, m discovery.Meta) *discovery.RequestAuthentication {
			return &discovery.RequestAuthentication{Meta: m, Spec: &o.Spec, Origin: m.Key()}
		}),
		Telemetries: convert(c.telemetries, r, "Telemetry", func(o *telemetryv1.Telemetry, m discovery.Meta) *discovery.Telemetry {
			return &discovery.Telemetry{Meta: m, Spec: &o.Spec}
		}),
		RootNamespace: inf.rootNamespace,
		Unreadable:    unreadable,
	})
	s.Version = version
	for i := range s.Problems {
		p := &s.Problems[i]
		p.Source = p.Name // an object in a cluster is found by namespace/name
		key := objectKey(p.Kind, p.Name)
		r.problems[key] = append(r.problems[key], *p)
	}
	return s.Seal(), r, nil
}

// cached is everything in the caches that a snapshot is built from.
type cached struct {
	services         []*corev1.Service
	pods             []*corev1.Pod
	slices           []*discoveryv1.EndpointSlice
	secrets          []*corev1.Secret
	virtualServices  []*istiov1.VirtualService
	destinationRules []*istiov1.DestinationRule
	gateways         []*istiov1.Gateway
	envoyFilters     []*istiov1alpha3.EnvoyFilter
	rateLimits       []*unstructured.Unstructured
	peerAuths        []*securityv1.PeerAuthentication
	sidecars         []*istiov1.Sidecar

	authorizationPolicies  []*securityv1.AuthorizationPolicy
	requestAuthentications []*securityv1.RequestAuthentication
	telemetries            []*telemetryv1.Telemetry
}

func (inf *informers) list() (c cached, err error) {
	everything := labels.Everything()
	var errs [14]error
	c.services, errs[0] = inf.services.List(everything)
	c.pods, errs[1] = inf.pods.List(everything)
	c.slices, errs[2] = inf.slices.List(everything)
	c.secrets, errs[3] = inf.secrets.List(everything)
	c.virtualServices, errs[4] = inf.virtualServices.List(everything)
	c.destinationRules, errs[5] = inf.destinationRules.List(everything)
	c.gateways, errs[6] = inf.gateways.List(everything)
	c.envoyFilters, errs[7] = inf.envoyFilters.List(everything)
	c.rateLimits, errs[8] = inf.rateLimits.list()
	c.authorizationPolicies, errs[9] = inf.authorizationPolicies.List(everything)
	c.requestAuthentications, errs[10] = inf.requestAuthentications.List(everything)
	c.peerAuths, errs[11] = inf.peerAuths.List(everything)
	c.telemetries, errs[12] = inf.telemetries.List(everything)
	c.sidecars, errs[13] = inf.sidecars.List(everything)
	// Caches list in map order. Sorting the inputs makes the build itself
	// deterministic, such as which slice an address shared by two comes from.
	sortObjects(c.services)
	sortObjects(c.pods)
	sortObjects(c.slices)
	return c, errors.Join(errs[:]...)
}

// convert turns Istio objects into the snapshot's type, and notes the
// generation of each in r.
//
// The spec is shared with the cache, not copied: informers replace objects
// rather than change them, and nothing writes to a snapshot.
func convert[T metav1.Object, U any](items []T, r *report, kind string, to func(T, discovery.Meta) U) []U {
	out := make([]U, 0, len(items))
	for _, o := range items {
		r.generations[objectKey(kind, namespacedName(o))] = o.GetGeneration()
		out = append(out, to(o, discovery.MetaOf(kind, o)))
	}
	return out
}

func sortObjects[T metav1.Object](items []T) {
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

// unchanged reports whether two snapshots describe the same mesh, so that
// the newer one need not be published.
//
// Istio specs are protobuf messages, which only proto.Equal compares
// reliably; SameConfig does that. Everything else is compared field by field
// with the rules and Version left out, so that a field added to Snapshot
// later is compared without anyone remembering to add it here.
func unchanged(a, b *discovery.Snapshot) bool {
	return discovery.SameConfig(a, b) && reflect.DeepEqual(withoutRules(a), withoutRules(b))
}

func withoutRules(s *discovery.Snapshot) discovery.Snapshot {
	c := *s
	c.Version = 0
	c.VirtualServices, c.DestinationRules, c.Gateways = nil, nil, nil
	c.EnvoyFilters, c.RateLimitPolicies = nil, nil
	c.AuthorizationPolicies, c.RequestAuthentications, c.PeerAuthentications = nil, nil, nil
	c.Telemetries, c.Sidecars = nil, nil
	return c
}
