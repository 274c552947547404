package folder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1"
	security "istio.io/api/security/v1beta1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	istiov1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	istiov1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	securityv1beta1 "istio.io/client-go/pkg/apis/security/v1beta1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"

	"github.com/pilotlight/pilotlight/discovery"
)

// A decoder decodes the JSON of one apiVersion+kind into what the loader
// keeps: the Kubernetes API type, or the snapshot type for Istio objects.
// namespace is the object's namespace after defaulting.
type decoder func(doc []byte, namespace string) (any, []fieldError)

// fieldError is one reason a document was rejected, and the field at fault
// when it is known ("spec.ports[1].port").
type fieldError struct {
	field, reason string
}

// decoders maps "apiVersion/kind" to its decoder. Istio serves the same
// schema under three API versions; all decode to the same snapshot type.
var decoders = map[string]decoder{
	"v1/Namespace":                      decodeKubernetes[corev1.Namespace],
	"v1/Service":                        decodeKubernetes[corev1.Service],
	"v1/Pod":                            decodeKubernetes[corev1.Pod],
	"v1/Secret":                         decodeKubernetes[corev1.Secret],
	"discovery.k8s.io/v1/EndpointSlice": decodeKubernetes[discoveryv1.EndpointSlice],

	"networking.istio.io/v1/VirtualService":       decodeVirtualService[istiov1.VirtualService],
	"networking.istio.io/v1beta1/VirtualService":  decodeVirtualService[istiov1beta1.VirtualService],
	"networking.istio.io/v1alpha3/VirtualService": decodeVirtualService[istiov1alpha3.VirtualService],

	"networking.istio.io/v1/DestinationRule":       decodeDestinationRule[istiov1.DestinationRule],
	"networking.istio.io/v1beta1/DestinationRule":  decodeDestinationRule[istiov1beta1.DestinationRule],
	"networking.istio.io/v1alpha3/DestinationRule": decodeDestinationRule[istiov1alpha3.DestinationRule],

	"networking.istio.io/v1/Gateway":       decodeGateway[istiov1.Gateway],
	"networking.istio.io/v1beta1/Gateway":  decodeGateway[istiov1beta1.Gateway],
	"networking.istio.io/v1alpha3/Gateway": decodeGateway[istiov1alpha3.Gateway],

	"networking.istio.io/v1/Sidecar":       decodeSidecar[istiov1.Sidecar],
	"networking.istio.io/v1beta1/Sidecar":  decodeSidecar[istiov1beta1.Sidecar],
	"networking.istio.io/v1alpha3/Sidecar": decodeSidecar[istiov1alpha3.Sidecar],

	"networking.istio.io/v1alpha3/EnvoyFilter":         decodeEnvoyFilter,
	"ratelimit.pilotlight.io/v1alpha1/RateLimitPolicy": decodeRateLimitPolicy,
	"security.istio.io/v1/PeerAuthentication":          decodePeerAuthentication[securityv1.PeerAuthentication],
	"security.istio.io/v1beta1/PeerAuthentication":     decodePeerAuthentication[securityv1beta1.PeerAuthentication],
	"security.istio.io/v1/AuthorizationPolicy":         decodeAuthorizationPolicy[securityv1.AuthorizationPolicy],
	"security.istio.io/v1beta1/AuthorizationPolicy":    decodeAuthorizationPolicy[securityv1beta1.AuthorizationPolicy],

	"security.istio.io/v1/RequestAuthentication":      decodeRequestAuthentication[securityv1.RequestAuthentication],
	"security.istio.io/v1beta1/RequestAuthentication": decodeRequestAuthentication[securityv1beta1.RequestAuthentication],
}

// clusterScoped kinds have no namespace.
var clusterScoped = map[string]bool{"Namespace": true}

// object is a pointer to a Kubernetes API type T, which has metadata.
type object[T any] interface {
	*T
	metav1.Object
}

func decodeKubernetes[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	obj := PT(new(T))
	errs := decodeJSON(doc, obj)
	obj.SetNamespace(namespace)
	return obj, errs
}

func decodeVirtualService[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	spec := &networking.VirtualService{}
	meta, errs := decodeIstio[T, PT](doc, namespace, "VirtualService", spec)
	return &discovery.VirtualService{Meta: meta, Spec: spec}, errs
}

func decodeDestinationRule[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	spec := &networking.DestinationRule{}
	meta, errs := decodeIstio[T, PT](doc, namespace, "DestinationRule", spec)
	return &discovery.DestinationRule{Meta: meta, Spec: spec}, errs
}

func decodeGateway[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	spec := &networking.Gateway{}
	meta, errs := decodeIstio[T, PT](doc, namespace, "Gateway", spec)
	return &discovery.Gateway{Meta: meta, Spec: spec}, errs
}

func decodeAuthorizationPolicy[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	spec := &security.AuthorizationPolicy{}
	meta, errs := decodeIstio[T, PT](doc, namespace, "AuthorizationPolicy", spec)
	return &discovery.AuthorizationPolicy{Meta: meta, Spec: spec}, errs
}

func decodeRequestAuthentication[T any, PT object[T]](doc []byte, namespace string) (any, []fieldError) {
	spec := &security.RequestAuthentication{}
	meta, errs := decodeIstio[T, PT](doc, namespace, "RequestAuthentication", spec)
	return &discovery.RequestAuthentication{Meta: meta, Spec: spec}, errs
}

// decodeIstio decodes an Istio object in two parts. The envelope (apiVersion,
// kind, metadata, status) goes strictly into the client-go type T. The spec
// goes into spec with protojson, which rejects unknown fields: the JSON
// methods generated in istio.io/api accept and drop them, and a misspelt
// field that silently changes routing is the very mistake to catch here.
func decodeIstio[T any, PT object[T]](doc []byte, namespace, kind string, spec proto.Message) (discovery.Meta, []fieldError) {
	obj, errs := decodeIstioObject[T, PT](doc, namespace, spec)
	return discovery.MetaOf(kind, obj), errs
}

// decodeIstioObject is decodeIstio returning the decoded envelope, for
// kinds that need more of its metadata than Meta holds.
func decodeIstioObject[T any, PT object[T]](doc []byte, namespace string, spec proto.Message) (PT, []fieldError) {
	obj := PT(new(T))
	envelope, rawSpec, err := cutSpec(doc)
	if err != nil {
		return obj, []fieldError{{reason: err.Error()}}
	}
	errs := decodeJSON(envelope, obj)
	if rawSpec != nil {
		errs = append(errs, decodeProto(rawSpec, spec)...)
	}
	obj.SetNamespace(namespace)
	return obj, errs
}

// cutSpec splits a document into its spec and everything else.
func cutSpec(doc []byte) (envelope, spec []byte, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(doc, &fields); err != nil {
		return nil, nil, err
	}
	spec = fields["spec"]
	if bytes.Equal(spec, []byte("null")) {
		spec = nil
	}
	delete(fields, "spec")
	envelope, err = json.Marshal(fields)
	return envelope, spec, err
}

// decodeJSON decodes a Kubernetes object strictly: an unknown or duplicate
// field is an error, reported with its path.
func decodeJSON(doc []byte, obj any) []fieldError {
	strictErrs, err := kjson.UnmarshalStrict(doc, obj)
	if err != nil {
		return []fieldError{jsonError(doc, err)}
	}
	var errs []fieldError
	for _, e := range strictErrs {
		fe := fieldError{reason: e.Error()}
		var f kjson.FieldError
		if errors.As(e, &f) {
			// e reads `unknown field "spec.ports[0].nmae"`; say the path once.
			fe.field = f.FieldPath()
			kind := strings.TrimSuffix(e.Error(), " "+strconv.Quote(fe.field))
			fe.reason = kind + " " + strconv.Quote(lastField(fe.field))
		}
		errs = append(errs, fe)
	}
	return errs
}

// jsonError describes a decoding error. A type error carries a path without
// list indexes ("spec.ports.port") and a byte offset, so the full path is
// recomputed from the offset.
func jsonError(doc []byte, err error) fieldError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		field := pathAt(doc, int(typeErr.Offset)-1)
		// A type's own UnmarshalJSON (intstr's, say) reports an offset into
		// its value, not the document: then trust only the indexless path.
		if withoutIndexes(field) != typeErr.Field {
			field = typeErr.Field
		}
		return fieldError{field: field, reason: fmt.Sprintf("expected %s, got %s", typeErr.Type, typeErr.Value)}
	}
	// Errors from a type's own UnmarshalJSON (a malformed quantity or
	// timestamp) don't say where they happened.
	return fieldError{reason: strings.TrimPrefix(err.Error(), "json: ")}
}

var listIndex = regexp.MustCompile(`\[\d+\]`)

// withoutIndexes turns "spec.ports[1].port" into "spec.ports.port".
func withoutIndexes(path string) string { return listIndex.ReplaceAllString(path, "") }

// lastField is the last name in a path: "nmae" in "spec.ports[0].nmae".
func lastField(path string) string {
	return path[strings.LastIndex(path, ".")+1:]
}

// protoErrorPosition finds the position and message in a protojson error,
// `proto: (line 1:62): unknown field "weigth"`. protojson words its errors
// slightly differently from run to run, so match only the stable part.
var protoErrorPosition = regexp.MustCompile(`\(line (\d+):(\d+)\): (.*)$`)

// decodeProto decodes an Istio spec strictly and reports the failing field as
// a path from the document root ("spec.http[0].route[0].weigth").
func decodeProto(spec []byte, msg proto.Message) []fieldError {
	spec = normalizeDurations(spec, msg.ProtoReflect().Descriptor())
	err := protojson.Unmarshal(spec, msg)
	if err == nil {
		return nil
	}
	m := protoErrorPosition.FindStringSubmatch(err.Error())
	if m == nil {
		return []fieldError{{field: "spec", reason: err.Error()}}
	}
	line, _ := strconv.Atoi(m[1])
	column, _ := strconv.Atoi(m[2])
	field := "spec"
	if p := pathAt(spec, byteOffset(spec, line, column)); p != "" {
		field += "." + p
	}
	return []fieldError{{field: field, reason: m[3]}}
}

// byteOffset converts protojson's position (line and column from 1, the
// column counted in characters) into a byte offset.
func byteOffset(data []byte, line, column int) int {
	i := 0
	for ; line > 1; line-- {
		nl := bytes.IndexByte(data[i:], '\n')
		if nl < 0 {
			return len(data)
		}
		i += nl + 1
	}
	for ; column > 1 && i < len(data); column-- {
		_, size := utf8.DecodeRune(data[i:])
		i += size
	}
	return i
}

// pathStep is one level of nesting while walking JSON: an object and the
// key being read, or an array and the index being read.
type pathStep struct {
	object  bool
	key     string
	index   int
	wantKey bool // in an object, the next token is a key
}

// pathAt returns the path ("http[0].route[1].weight") of the key or value
// at a byte offset of a JSON document, by walking its tokens up to there.
func pathAt(data []byte, offset int) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	var steps []*pathStep
	for {
		tok, err := dec.Token()
		if err != nil {
			return formatPath(steps)
		}
		reached := dec.InputOffset() > int64(offset)
		if tok == json.Delim('}') || tok == json.Delim(']') {
			steps = steps[:len(steps)-1]
			if reached {
				return formatPath(steps)
			}
			valueDone(steps)
			continue
		}
		if len(steps) > 0 && steps[len(steps)-1].wantKey {
			top := steps[len(steps)-1]
			top.key, top.wantKey = tok.(string), false
			if reached {
				return formatPath(steps)
			}
			continue
		}
		// tok starts a value: a list element, or the value of the last key.
		if len(steps) > 0 && !steps[len(steps)-1].object {
			steps[len(steps)-1].index++
		}
		if reached {
			return formatPath(steps)
		}
		switch tok {
		case json.Delim('{'):
			steps = append(steps, &pathStep{object: true, wantKey: true})
		case json.Delim('['):
			steps = append(steps, &pathStep{index: -1})
		default:
			valueDone(steps)
		}
	}
}

// valueDone records that a value is complete: in an object, a key comes next.
func valueDone(steps []*pathStep) {
	if len(steps) > 0 && steps[len(steps)-1].object {
		steps[len(steps)-1].wantKey = true
	}
}

func formatPath(steps []*pathStep) string {
	var b strings.Builder
	for _, s := range steps {
		switch {
		case s.object && !s.wantKey:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		case !s.object && s.index >= 0:
			fmt.Fprintf(&b, "[%d]", s.index)
		}
	}
	return b.String()
}

// header is the part of every object needed to pick its decoder and to
// name it in a Problem, read leniently before the strict decoding.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// namespace is where the object lives: "default" when unset, as kubectl
// would apply it, and none for cluster-scoped kinds.
func (h *header) namespace() string {
	switch {
	case clusterScoped[h.Kind]:
		return ""
	case h.Metadata.Namespace == "":
		return "default"
	}
	return h.Metadata.Namespace
}

// name is how a Problem names the object: "namespace/name".
func (h *header) name() string {
	if ns := h.namespace(); ns != "" {
		return ns + "/" + h.Metadata.Name
	}
	return h.Metadata.Name
}

// decodeObject decodes the JSON of one document. It returns the object, its
// header, and what is wrong with it; h is nil for an empty document or one
// that is not an object. ignored is true for a kind that is not mesh config
// at all (a Deployment): it is listed, not reported as a problem.
func decodeObject(js []byte) (obj any, h *header, errs []fieldError, ignored bool) {
	if bytes.Equal(js, []byte("null")) {
		return nil, nil, nil, false // an empty document, or only comments
	}
	if !bytes.HasPrefix(bytes.TrimSpace(js), []byte("{")) {
		return nil, nil, []fieldError{{reason: "document is not an object"}}, false
	}
	h = &header{}
	_ = json.Unmarshal(js, h) // a field of the wrong type stays empty here; the decoder reports it
	decode := decoders[h.APIVersion+"/"+h.Kind]
	switch {
	case h.APIVersion == "" || h.Kind == "":
		return nil, h, []fieldError{{reason: "apiVersion and kind are required"}}, false
	case decode == nil && !meshKind(h.APIVersion, h.Kind):
		return nil, h, nil, true
	case decode == nil:
		return nil, h, []fieldError{{reason: fmt.Sprintf("unsupported kind %s %s: pilotlight does not read it, so its rules would do nothing", h.APIVersion, h.Kind)}}, false
	case h.Metadata.Name == "":
		return nil, h, []fieldError{{field: "metadata.name", reason: "name is required"}}, false
	}
	obj, errs = decode(js, h.namespace())
	return obj, h, errs, false
}

// meshKind reports whether a kind pilotlight does not decode is mesh config
// all the same, so that ignoring it would silently drop rules: every kind of
// Istio's groups, the Gateway API's and pilotlight's own, other versions of
// the kinds it reads, the Endpoints that EndpointSlices replaced, and Lists
// (whose items would be lost). Deployments, ConfigMaps, ServiceAccounts and
// the like, which tutorials ship beside their mesh config, are not.
func meshKind(apiVersion, kind string) bool {
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = "" // the core group: "v1"
	}
	switch {
	case strings.HasSuffix(group, ".istio.io"), group == "gateway.networking.k8s.io",
		group == "pilotlight.io", strings.HasSuffix(group, ".pilotlight.io"):
		return true
	case kind == "List" || strings.HasSuffix(kind, "List"):
		return true
	case group == "" && kind == "Endpoints":
		return true
	}
	for known := range decoders {
		if strings.HasSuffix(known, "/"+kind) {
			return true
		}
	}
	return false
}
