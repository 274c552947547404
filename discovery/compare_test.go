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
