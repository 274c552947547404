package folder

import (
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istiov1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"

	ratelimitv1alpha1 "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/discovery"
)

// Decoders of EnvoyFilters (Istio serves them as v1alpha3 only) and of
// pilotlight's own RateLimitPolicy.

func decodeEnvoyFilter(doc []byte, namespace string) (any, []fieldError) {
	spec := &networkingv1alpha3.EnvoyFilter{}
	meta, errs := decodeIstio[istiov1alpha3.EnvoyFilter](doc, namespace, "EnvoyFilter", spec)
	return &discovery.EnvoyFilter{Meta: meta, Spec: spec}, errs
}

// decodeRateLimitPolicy decodes strictly into our own Go type, whose spec
// is plain JSON (not protobuf).
func decodeRateLimitPolicy(doc []byte, namespace string) (any, []fieldError) {
	obj := &ratelimitv1alpha1.RateLimitPolicy{}
	errs := decodeJSON(doc, obj)
	obj.SetNamespace(namespace)
	return &discovery.RateLimitPolicy{Meta: discovery.MetaOf(ratelimitv1alpha1.Kind, obj), Spec: &obj.Spec}, errs
}
