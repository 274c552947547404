package folder

import (
	"encoding/json"
	"strconv"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// normalizeDurations rewrites durations written the way Istio's docs write
// them ("5m", "250ms", "1h") into the only form protojson accepts ("300s").
// Istio's own decoder accepts both, so YAML from an Istio tutorial must load
// here too. Fields are found through the message descriptor, so only real
// google.protobuf.Duration fields are touched; anything that does not parse
// as JSON or as a duration is left for protojson to report.
func normalizeDurations(spec []byte, desc protoreflect.MessageDescriptor) []byte {
	var doc any
	if err := json.Unmarshal(spec, &doc); err != nil {
		return spec
	}
	if !rewriteDurations(doc, desc) {
		return spec
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return spec
	}
	return out
}

// rewriteDurations walks a decoded JSON object alongside its descriptor and
// reports whether it changed anything.
func rewriteDurations(value any, desc protoreflect.MessageDescriptor) bool {
	obj, ok := value.(map[string]any)
	if !ok {
		return false
	}
	changed := false
	for key, v := range obj {
		fd := desc.Fields().ByJSONName(key)
		if fd == nil {
			fd = desc.Fields().ByTextName(key)
		}
		if fd == nil || fd.Kind() != protoreflect.MessageKind {
			continue
		}
		if fd.Message().FullName() == "google.protobuf.Duration" && !fd.IsList() && !fd.IsMap() {
			if s, ok := v.(string); ok {
				if d, err := time.ParseDuration(s); err == nil {
					obj[key] = strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
					changed = true
				}
			}
			continue
		}
		changed = rewriteNested(v, fd) || changed
	}
	return changed
}

func rewriteNested(v any, fd protoreflect.FieldDescriptor) bool {
	changed := false
	switch {
	case fd.IsMap():
		if m, ok := v.(map[string]any); ok && fd.MapValue().Kind() == protoreflect.MessageKind {
			for _, item := range m {
				changed = rewriteDurations(item, fd.MapValue().Message()) || changed
			}
		}
	case fd.IsList():
		if list, ok := v.([]any); ok {
			for _, item := range list {
				changed = rewriteDurations(item, fd.Message()) || changed
			}
		}
	default:
		changed = rewriteDurations(v, fd.Message())
	}
	return changed
}
