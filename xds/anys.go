package xds

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// validateAnys opens every Any inside m (a typed_config: an HTTP
// connection manager, its filters, a TLS context), checks that its type is
// one Envoy knows (registered here by the packages translate uses),
// validates it, and hands it to opened. It walks only the fields whose
// type can hold an Any, directly or further down: most of a resource
// (addresses, matchers, durations) cannot, and walking it by reflection
// would cost more than the checks themselves.
func validateAnys(m protoreflect.Message, opened func(proto.Message), seen anyCache) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if mv := fd.MapValue(); mv.Kind() == protoreflect.MessageKind && holdsAny(mv.Message()) {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					err = validateNested(mv.Message(), opened, seen)
					return err == nil
				})
			}
		case fd.Kind() != protoreflect.MessageKind || !holdsAny(fd.Message()):
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len() && err == nil; i++ {
				err = validateNested(l.Get(i).Message(), opened, seen)
			}
		default:
			err = validateNested(v.Message(), opened, seen)
		}
		return err == nil
	})
	return err
}

const anyName = "google.protobuf.Any"

// anyCache remembers what opening a typed config gave, by its type and
// bytes: many proxies' listeners carry the same HTTP connection manager,
// which is then checked once. nil: no cache.
type anyCache map[anyKey]anyResult

type anyKey struct{ typeURL, value string }

type anyResult struct {
	err    error
	opened []proto.Message // the config and those inside it
}

func validateNested(m protoreflect.Message, opened func(proto.Message), seen anyCache) error {
	if m.Descriptor().FullName() != anyName {
		return validateAnys(m, opened, seen)
	}
	fields := m.Descriptor().Fields()
	typeURL := m.Get(fields.ByName("type_url")).String()
	value := m.Get(fields.ByName("value")).Bytes()
	if r, ok := seen[anyKey{typeURL, string(value)}]; ok {
		if opened != nil {
			for _, o := range r.opened {
				opened(o)
			}
		}
		return r.err
	}
	var r anyResult
	r.err = openAny(typeURL, value, func(o proto.Message) { r.opened = append(r.opened, o) }, seen)
	if seen != nil {
		seen[anyKey{typeURL, string(value)}] = r
	}
	if opened != nil {
		for _, o := range r.opened {
			opened(o)
		}
	}
	return r.err
}

func openAny(typeURL string, value []byte, opened func(proto.Message), seen anyCache) error {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL)
	if err != nil {
		return fmt.Errorf("typed config of unknown type %q", typeURL)
	}
	inner := mt.New().Interface()
	if err := proto.Unmarshal(value, inner); err != nil {
		return fmt.Errorf("typed config %q: %w", typeURL, err)
	}
	if err := validateAll(inner); err != nil {
		return fmt.Errorf("%s: %w", typeURL, err)
	}
	opened(inner)
	return validateAnys(inner.ProtoReflect(), opened, seen)
}

// holdsAnyCache: message type → whether an Any can be found in it.
var holdsAnyCache sync.Map

// holdsAny tells whether a message of this type can contain an Any.
func holdsAny(md protoreflect.MessageDescriptor) bool {
	if v, ok := holdsAnyCache.Load(md.FullName()); ok {
		return v.(bool)
	}
	found, _ := searchAny(md, map[protoreflect.FullName]bool{})
	return found
}

// searchAny looks for an Any below md, depth first. Types can refer to
// themselves (a matcher of matchers): a type being searched counts as no
// Any for now, and an answer that relied on that is not cached, so that it
// is asked again once the outer search is done.
func searchAny(md protoreflect.MessageDescriptor, open map[protoreflect.FullName]bool) (found, partial bool) {
	name := md.FullName()
	if v, ok := holdsAnyCache.Load(name); ok {
		return v.(bool), false
	}
	if name == anyName {
		holdsAnyCache.Store(name, true)
		return true, false
	}
	if open[name] {
		return false, true
	}
	open[name] = true
	defer delete(open, name)
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		var sub protoreflect.MessageDescriptor
		switch {
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
			sub = fd.MapValue().Message()
		case !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
			sub = fd.Message()
		default:
			continue
		}
		f, p := searchAny(sub, open)
		if f {
			holdsAnyCache.Store(name, true)
			return true, false
		}
		partial = partial || p
	}
	if !partial {
		holdsAnyCache.Store(name, false)
	}
	return false, partial
}
