package discovery

import (
	"reflect"
	"testing"
)

// SameEndpoints compares every field of an Endpoint: two endpoints that
// differ in any one field (a field added later included) are not the same.
func TestSameEndpointsComparesEveryField(t *testing.T) {
	base := func() *Endpoint {
		return &Endpoint{Address: "10.0.0.1", Ports: map[string]uint32{"http": 8080}, Labels: map[string]string{"app": "a"}, PodName: "a-0", Ready: true}
	}
	if !SameEndpoints([]*Endpoint{base()}, []*Endpoint{base()}) {
		t.Fatal("two equal endpoints are not the same")
	}
	typ := reflect.TypeFor[Endpoint]()
	for i := range typ.NumField() {
		other := base()
		f := reflect.ValueOf(other).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			m.SetMapIndex(reflect.ValueOf("other").Convert(f.Type().Key()), reflect.Zero(f.Type().Elem()))
			f.Set(m)
		default:
			t.Fatalf("field %s of kind %s: teach this test (and SameEndpoints) to compare it", typ.Field(i).Name, f.Kind())
		}
		if SameEndpoints([]*Endpoint{base()}, []*Endpoint{other}) {
			t.Errorf("endpoints that differ in %s are the same", typ.Field(i).Name)
		}
	}
	if SameEndpoints([]*Endpoint{base()}, []*Endpoint{base(), base()}) {
		t.Error("lists of different lengths are the same")
	}
}

// SameConfigButVirtualServices compares every field of config but
// VirtualServices, and SameConfig those too: a snapshot that differs in
// any one of them (a kind added later included) is not the same config.
func TestSameConfigComparesEveryKindOfConfig(t *testing.T) {
	notConfig := map[string]bool{"Version": true, "Pods": true, "Endpoints": true, "Origins": true, "Problems": true, "Notices": true}
	typ := reflect.TypeFor[Snapshot]()
	for i := range typ.NumField() {
		field := typ.Field(i)
		if !field.IsExported() || notConfig[field.Name] {
			continue
		}
		var a, b Snapshot
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.New(field.Type.Elem().Elem())))
		case reflect.String:
			f.SetString("other")
		case reflect.Map:
			m := reflect.MakeMap(field.Type)
			m.SetMapIndex(reflect.ValueOf("other"), reflect.Zero(field.Type.Elem()))
			f.Set(m)
		default:
			t.Fatalf("field %s of kind %s: teach this test (and SameConfig) to compare it", field.Name, f.Kind())
		}
		if SameConfig(&a, &b) {
			t.Errorf("snapshots that differ in %s have the same config", field.Name)
		}
		if got, want := SameConfigButVirtualServices(&a, &b), field.Name == "VirtualServices"; got != want {
			t.Errorf("snapshots that differ in %s: SameConfigButVirtualServices = %v, want %v", field.Name, got, want)
		}
	}
	var a, b Snapshot
	b.Version, b.Pods = 2, []*Pod{{}}
	if !SameConfig(&a, &b) {
		t.Error("snapshots that differ only in version and pods do not have the same config")
	}
}
