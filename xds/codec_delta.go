package xds

import (
	"unicode/utf8"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
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
	ok := true
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return false
		}
		if num == deltaSubscribe && len(req.ResourceNamesSubscribe) == 0 && lists != nil {
			list, n := readNames(b, num, names, lists) // codec_names.go
			if n < 0 {
				return false
			}
			req.ResourceNamesSubscribe, b = list, b[n:]
			continue
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case deltaSubscribe:
			req.ResourceNamesSubscribe, ok = appendName(req.ResourceNamesSubscribe, v, names)
		case deltaUnsubscribe:
			req.ResourceNamesUnsubscribe, ok = appendName(req.ResourceNamesUnsubscribe, v, names)
		case deltaTypeURL:
			req.TypeUrl, ok = validString(v)
		case deltaNonce:
			req.ResponseNonce, ok = validString(v)
		case deltaNode:
			if req.Node == nil {
				req.Node = &core.Node{}
			}
			ok = (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, req.Node) == nil
		case deltaErrorDetail:
			if req.ErrorDetail == nil {
				req.ErrorDetail = &rpcstatus.Status{}
			}
			ok = (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, req.ErrorDetail) == nil
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

// validString is v as a string, if it is UTF-8 (as protobuf requires).
func validString(v []byte) (string, bool) {
	if !utf8.Valid(v) {
		return "", false
	}
	return string(v), true
}
