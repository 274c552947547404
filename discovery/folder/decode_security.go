package folder

import (
	security "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

// decodePeerAuthentication decodes like decodeIstio, and also keeps the
// creationTimestamp, which decides between policies of one level.
func decodePeerAuthentication[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	spec := &security.PeerAuthentication{}
	obj, errs := decodeIstioObject[T, PT](doc, namespace, spec)
	return &discovery.PeerAuthentication{
		Meta:    discovery.MetaOf("PeerAuthentication", obj),
		Created: obj.GetCreationTimestamp().Time,
		Spec:    spec,
	}, errs
}
