package translate

import (
	"fmt"
	"strings"

	udpatype "github.com/cncf/xds/go/udpa/type/v1"
	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// MERGE, as Istio's merge.Merge does it: proto.Merge (lists appended, maps
// and scalars overwritten, messages merged field by field), except that a
// well-known type (Duration, a wrapper, Struct, Any) is replaced whole: a
// timeout of "5s" merged into "1.5s" is 5s, not 5.5s.
func mergeInto(dst, src proto.Message) {
	mergeMessage(dst.ProtoReflect(), src.ProtoReflect())
}

func mergeMessage(dst, src protoreflect.Message) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			list := dst.Mutable(fd).List()
			for i := 0; i < v.List().Len(); i++ {
				list.Append(cloneValue(fd, v.List().Get(i)))
			}
		case fd.IsMap():
			m := dst.Mutable(fd).Map()
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				m.Set(k, cloneValue(fd.MapValue(), mv))
				return true
			})
		case fd.Message() != nil && dst.Has(fd) && !wellKnown(fd.Message()):
			mergeMessage(dst.Mutable(fd).Message(), v.Message())
		default:
			dst.Set(fd, cloneValue(fd, v))
		}
		return true
	})
}

func wellKnown(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

func cloneValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
	if fd.Message() != nil {
		return protoreflect.ValueOfMessage(proto.Clone(v.Message().Interface()).ProtoReflect())
	}
	return v
}

// mergeTypedConfig merges a filter MERGE's typed_config into the filter's:
// both decoded into the filter's type (a TypedStruct of that type too),
// merged, and encoded as that type. Merging another type is an error.
func mergeTypedConfig(dst, src *anypb.Any) (*anypb.Any, error) {
	into, err := resolveAny(dst)
	if err != nil {
		return nil, err
	}
	from, err := resolveAny(src)
	if err != nil {
		return nil, err
	}
	if a, b := into.ProtoReflect().Descriptor().FullName(), from.ProtoReflect().Descriptor().FullName(); a != b {
		return nil, fmt.Errorf("cannot merge a %s into the filter's %s", b, a)
	}
	mergeInto(into, from)
	return anypb.New(into)
}

// resolveAny decodes an Any into its message, and a TypedStruct into the
// message its type_url names (Envoy does the same when it loads one). A
// type pilotlight does not know is an error: it cannot check it.
func resolveAny(a *anypb.Any) (proto.Message, error) {
	typeURL, value, typed := typedStruct(a)
	if !typed {
		m, err := a.UnmarshalNew()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", a.GetTypeUrl(), err)
		}
		return m, nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL)
	if err != nil {
		return nil, fmt.Errorf("TypedStruct of %s: a type pilotlight does not know", typeURL)
	}
	js, err := protojson.Marshal(value)
	if err != nil {
		return nil, err
	}
	m := mt.New().Interface()
	if err := protojson.Unmarshal(js, m); err != nil {
		return nil, fmt.Errorf("TypedStruct value is not a valid %s: %v", mt.Descriptor().FullName(), err)
	}
	return m, nil
}

// typedStruct reads the type_url and value of an Any holding a TypedStruct
// (udpa.type.v1 or xds.type.v3).
func typedStruct(a *anypb.Any) (typeURL string, value *structpb.Struct, ok bool) {
	switch a.GetTypeUrl() {
	case "type.googleapis.com/udpa.type.v1.TypedStruct":
		ts := &udpatype.TypedStruct{}
		if a.UnmarshalTo(ts) == nil {
			return ts.TypeUrl, ts.Value, true
		}
	case "type.googleapis.com/xds.type.v3.TypedStruct":
		ts := &xdstype.TypedStruct{}
		if a.UnmarshalTo(ts) == nil {
			return ts.TypeUrl, ts.Value, true
		}
	}
	return "", nil, false
}
