package discovery

// Durations, wherever an Istio spec has one: Envoy accepts durations from
// 0s to 9223372035.999999999s (its limit of int64 nanoseconds, less a
// second; about 292 years), and rejects the whole resource otherwise.
// protobuf's own range (±315576000000s) is wider, and Go's time.Duration
// saturates past 9223372036.854775807s, which would silently clamp.

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
)

// maxEnvoySeconds is the largest whole number of seconds in a duration
// Envoy accepts (checked on Envoy 1.40: 9223372036s is refused as "Duration
// out-of-range").
const maxEnvoySeconds = 9223372035

var durationName = (&durationpb.Duration{}).ProtoReflect().Descriptor().FullName()

// checkDurations reports every duration in msg (at path) that Envoy would
// refuse: invalid, negative or beyond its range.
func checkDurations(p *problemList, path string, msg proto.Message) {
	if msg == nil || !msg.ProtoReflect().IsValid() {
		return
	}
	walkDurations(p, path, msg.ProtoReflect())
}

func walkDurations(p *problemList, path string, m protoreflect.Message) {
	if m.Descriptor().FullName() == durationName {
		checkDurationRange(p, path, m.Interface().(*durationpb.Duration))
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fpath := path + "." + fd.JSONName()
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			list := v.List()
			for i := 0; i < list.Len(); i++ {
				walkDurations(p, fieldIndex(fpath, i), list.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
			entries := map[string]protoreflect.Message{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				entries[k.String()] = mv.Message()
				return true
			})
			for _, k := range sortedNames(entries) { // map order is random; problems should not be
				walkDurations(p, fieldKey(fpath, k), entries[k])
			}
		case !fd.IsList() && !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
			walkDurations(p, fpath, v.Message())
		}
		return true
	})
}

// checkDurationRange reports a duration Envoy would refuse.
func checkDurationRange(p *problemList, path string, d *durationpb.Duration) {
	switch {
	case d.CheckValid() != nil && (d.GetSeconds() < 0) == (d.GetNanos() < 0):
		p.add(path, "%s is out of range: Envoy takes durations from 0s to %ds (about 292 years)", formatDuration(d), maxEnvoySeconds)
	case d.CheckValid() != nil:
		p.add(path, "not a valid duration: %v", d.CheckValid())
	case d.GetSeconds() < 0 || d.GetNanos() < 0:
		p.add(path, "%s is negative: Envoy takes durations from 0s to %ds (about 292 years)", formatDuration(d), maxEnvoySeconds)
	case d.GetSeconds() > maxEnvoySeconds:
		p.add(path, "%s is out of range: Envoy takes durations from 0s to %ds (about 292 years)", formatDuration(d), maxEnvoySeconds)
	}
}

// inEnvoyRange reports whether a duration is one Envoy accepts: the checks
// of particular fields (at least 1ms, whole seconds) apply only then.
func inEnvoyRange(d *durationpb.Duration) bool {
	return d.CheckValid() == nil && d.GetSeconds() >= 0 && d.GetNanos() >= 0 && d.GetSeconds() <= maxEnvoySeconds
}

// formatDuration writes a duration as YAML would ("315576000000s",
// "1.5s"), exactly, even beyond what time.Duration holds.
func formatDuration(d *durationpb.Duration) string {
	s, n := d.GetSeconds(), d.GetNanos()
	if n == 0 {
		return strconv.FormatInt(s, 10) + "s"
	}
	sign := ""
	if s < 0 || n < 0 {
		sign, s, n = "-", -s, -n
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", n), "0")
	return fmt.Sprintf("%s%d.%ss", sign, s, frac)
}
