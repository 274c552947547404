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
// validates it, and hands it to opened. It visits only the fields whose
// type can hold an Any, directly or further down: most of a resource
// (addresses, matchers, durations) cannot, and walking all of it by
// reflection would cost more than the checks themselves.
func validateAnys(m protoreflect.Message, opened func(proto.Message), seen anyCache) error {
	for _, fd := range fieldsWithAny(m.Descriptor()) {
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			var err error
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				err = validateNested(mv.Message(), opened, seen)
				return err == nil
			})
			if err != nil {
				return err
			}
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				if err := validateNested(l.Get(i).Message(), opened, seen); err != nil {
					return err
				}
			}
		default:
			if err := validateNested(v.Message(), opened, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldsWithAnyCache: message type → its fields that can lead to an Any.
var fieldsWithAnyCache sync.Map

// fieldsWithAny lists the fields of a message type whose values can hold
// an Any (an Any field, or a message that holds one further down).
func fieldsWithAny(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	if v, ok := fieldsWithAnyCache.Load(md.FullName()); ok {
		return v.([]protoreflect.FieldDescriptor)
	}
	var out []protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		if sub := messageOf(fields.Get(i)); sub != nil && holdsAny(sub) {
			out = append(out, fields.Get(i))
		}
	}
	fieldsWithAnyCache.Store(md.FullName(), out)
	return out
}

// messageOf is the message type of a field's values (a map's: of its
// values), or nil.
func messageOf(fd protoreflect.FieldDescriptor) protoreflect.MessageDescriptor {
	switch {
	case fd.IsMap():
		return fd.MapValue().Message()
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		return fd.Message()
	}
	return nil
}

const anyName = "google.protobuf.Any"

// anyCache remembers what opening a typed config gave, by its type and
// bytes: many proxies' listeners carry the same HTTP connection manager,
// which is then checked once. nil: no cache.
// By type URL, then bytes: looking up m[string(bytes)] copies nothing.
type anyCache map[string]map[string]anyResult

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
	if r, ok := seen[typeURL][string(value)]; ok {
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
		if seen[typeURL] == nil {
			seen[typeURL] = map[string]anyResult{}
		}
		seen[typeURL][string(value)] = r
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
		sub := messageOf(fields.Get(i))
		if sub == nil {
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
