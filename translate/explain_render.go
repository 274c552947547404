package translate

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Explanation is every resource of one proxy's view, and for each field
// that was translated from something, where it came from.
type Explanation struct {
	Resources []ExplainedResource `json:"resources"`
}

// ExplainedResource is one cluster, endpoint set, listener or route table.
type ExplainedResource struct {
	Type   string           `json:"type"` // cluster, endpoint, listener, route
	Name   string           `json:"name"`
	Fields []ExplainedField `json:"fields"`
}

// ExplainedField is one translated field: its path in the resource (Envoy's
// field names), its value, and its origins.
type ExplainedField struct {
	Path  string   `json:"path"`
	Value string   `json:"value,omitempty"`
	From  []Origin `json:"from"`
}

// explain walks a translated view in its order and collects the notes.
func (p *provenance) explain(res *Resources) *Explanation {
	e := &Explanation{}
	add := func(typ, name string, fields []ExplainedField) {
		e.Resources = append(e.Resources, ExplainedResource{Type: typ, Name: name, Fields: fields})
	}
	for _, l := range res.Listeners {
		add("listener", l.Name, p.fields(l, ""))
	}
	for _, rc := range res.Routes {
		var fields []ExplainedField
		for _, vh := range rc.VirtualHosts {
			for k, r := range vh.Routes {
				fields = append(fields, p.fields(r, fmt.Sprintf("virtual_hosts[%s].routes[%d].", vh.Name, k))...)
			}
		}
		add("route", rc.Name, fields)
	}
	for _, c := range res.Clusters {
		add("cluster", c.Name, p.fields(c, ""))
	}
	for _, la := range res.LoadAssignments {
		add("endpoint", la.ClusterName, p.fields(la, ""))
	}
	return e
}

func (p *provenance) fields(msg proto.Message, prefix string) []ExplainedField {
	var out []ExplainedField
	for _, n := range p.of(msg) {
		out = append(out, ExplainedField{Path: prefix + n.path, Value: valueAt(msg, n.path), From: n.origins})
	}
	return out
}

// valueAt renders the value at a field path of msg ("route.timeout",
// "route.weighted_clusters.clusters[1].weight", "match.headers[0]",
// "typed_per_filter_config[envoy.filters.http.fault]"), short.
func valueAt(msg proto.Message, path string) string {
	v, fd, item, ok := walk(msg.ProtoReflect(), path)
	if !ok {
		return ""
	}
	return short(render(v, fd, item))
}

// walk follows path from m; item tells that the value is one element of
// a list or map, not the field itself.
func walk(m protoreflect.Message, path string) (v protoreflect.Value, fd protoreflect.FieldDescriptor, item, ok bool) {
	for _, seg := range strings.Split(path, ".") {
		name, key, indexed := strings.Cut(strings.TrimSuffix(seg, "]"), "[")
		if m == nil {
			return v, nil, false, false
		}
		fd = m.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil || (!m.Has(fd) && !indexed) {
			return v, nil, false, false
		}
		item = indexed
		v = m.Get(fd)
		if indexed {
			switch {
			case fd.IsList():
				i, err := strconv.Atoi(key)
				if err != nil || i >= v.List().Len() {
					return v, nil, false, false
				}
				v = v.List().Get(i)
			case fd.IsMap():
				v = v.Map().Get(protoreflect.ValueOfString(key).MapKey())
				fd = fd.MapValue()
			}
			if !v.IsValid() {
				return v, nil, false, false
			}
		}
		m = nil
		if fd.Kind() == protoreflect.MessageKind && (indexed || !fd.IsList() && !fd.IsMap()) {
			m = v.Message()
		}
	}
	return v, fd, item, true
}

func render(v protoreflect.Value, fd protoreflect.FieldDescriptor, item bool) string {
	whole := !item && (fd.IsList() || fd.IsMap())
	switch {
	case whole:
		return ""
	case fd.Kind() == protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
	case fd.Kind() == protoreflect.MessageKind:
		js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(v.Message().Interface())
		if err != nil {
			return ""
		}
		return strings.Trim(compact(string(js)), `"`)
	}
	return v.String()
}

// compact drops the spaces protojson puts after separators.
func compact(js string) string {
	return strings.NewReplacer(`": `, `":`, `, "`, `,"`, ", {", ",{").Replace(js)
}

func short(s string) string {
	if len(s) > 200 {
		return s[:197] + "..."
	}
	return s
}

// Locate fills in each origin's position (file:line) with position, given
// the object's source document and the field.
func (e *Explanation) Locate(position func(source, field string) string) {
	for r := range e.Resources {
		for f := range e.Resources[r].Fields {
			for o := range e.Resources[r].Fields[f].From {
				origin := &e.Resources[r].Fields[f].From[o]
				if origin.Source != "" {
					origin.Position = position(origin.Source, origin.Field)
				}
			}
		}
	}
}

// Only keeps the resources named name (any type).
func (e *Explanation) Only(name string) {
	var kept []ExplainedResource
	for _, r := range e.Resources {
		if r.Name == name {
			kept = append(kept, r)
		}
	}
	e.Resources = kept
}

// Text writes the explanation for people:
//
//	route http_proxy
//	  virtual_hosts[...].routes[1].route.timeout: 5s ← VirtualService sock-shop/front-end spec.http[1].timeout (40-virtualservice.yaml:61)
func (e *Explanation) Text(w io.Writer) error {
	for _, r := range e.Resources {
		if _, err := fmt.Fprintf(w, "%s %s\n", r.Type, r.Name); err != nil {
			return err
		}
		for _, f := range r.Fields {
			value := ""
			if f.Value != "" {
				value = ": " + f.Value
			}
			var from []string
			for _, o := range f.From {
				from = append(from, o.String())
			}
			if _, err := fmt.Fprintf(w, "  %s%s ← %s\n", f.Path, value, strings.Join(from, "; ")); err != nil {
				return err
			}
		}
	}
	return nil
}

func (o Origin) String() string {
	var parts []string
	if o.Kind != "" {
		parts = append(parts, o.Kind+" "+o.Name)
	}
	if o.Field != "" {
		parts = append(parts, o.Field)
	}
	if o.Position != "" {
		parts = append(parts, "("+o.Position+")")
	}
	if o.Note != "" {
		parts = append(parts, o.Note)
	}
	return strings.Join(parts, " ")
}
