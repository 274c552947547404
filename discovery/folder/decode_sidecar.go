package folder

import (
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// decodeSidecar decodes a Sidecar like decodeIstio, and keeps the
// creationTimestamp, which decides between Sidecars that would apply to
// the same workloads.
func decodeSidecar[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	spec := &networking.Sidecar{}
	obj, errs := decodeIstioObject[T, PT](doc, namespace, spec)
	return &discovery.Sidecar{
		Meta:    discovery.MetaOf("Sidecar", obj),
		Created: obj.GetCreationTimestamp().Time,
		Spec:    spec,
	}, errs
}
