package xds

import (
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
)

// A Delta sidecar's first request for endpoints subscribes to every EDS
// cluster it has: at 1000×10, 3,000 names from each of a thousand proxies
// at once, each a new string when protobuf decodes it (a tenth of the
// server's CPU in a Delta cold sync). They are decoded as state-of-the-world
// names are (codec.go): into the server's own strings, and a list some
// request sent before is not decoded again.

// Field numbers of DeltaDiscoveryRequest, from its descriptor.
var (
	deltaFields      = (&discoverypb.DeltaDiscoveryRequest{}).ProtoReflect().Descriptor().Fields()
	deltaNode        = deltaFields.ByName("node").Number()
	deltaTypeURL     = deltaFields.ByName("type_url").Number()
	deltaSubscribe   = deltaFields.ByName("resource_names_subscribe").Number()
	deltaUnsubscribe = deltaFields.ByName("resource_names_unsubscribe").Number()
	deltaNonce       = deltaFields.ByName("response_nonce").Number()
	deltaErrorDetail = deltaFields.ByName("error_detail").Number()
)

// decodeDeltaRequest is decodeRequest for a DeltaDiscoveryRequest: false
// for anything it does not decode (initial_resource_versions, resource
// locators, a field added later), which protobuf then decodes.
func decodeDeltaRequest(b []byte, req *discoverypb.DeltaDiscoveryRequest, names map[string]string, lists *nameLists) bool {
	return decodeFields(b, deltaSubscribe, &req.ResourceNamesSubscribe, names, lists, func(num protowire.Number, v []byte) (ok bool) {
		switch num {
		case deltaUnsubscribe:
			req.ResourceNamesUnsubscribe, ok = appendName(req.ResourceNamesUnsubscribe, v, names)
		case deltaTypeURL:
			req.TypeUrl, ok = validString(v)
		case deltaNonce:
			req.ResponseNonce, ok = validString(v)
		case deltaNode:
			ok = mergeInto(&req.Node, v)
		case deltaErrorDetail:
			ok = mergeInto(&req.ErrorDetail, v)
		}
		return ok
	})
}
