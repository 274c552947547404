package discovery

import (
	"slices"
	"testing"
)

// ServicesIn finds a namespace's services in Services, sorted by
// namespace/name, also where one namespace's name starts another's ("a"
// and "a-b": "a-b/…" sorts before "a/…").
func TestServicesIn(t *testing.T) {
	var services []*Service
	for _, k := range [][2]string{{"a", "x"}, {"a-b", "y"}, {"a", "z"}, {"ab", "w"}, {"b", "v"}, {"a-b", "u"}} {
		services = append(services, &Service{Meta: Meta{Kind: "Service", Namespace: k[0], Name: k[1]}})
	}
	snap := (&Snapshot{Services: services}).Seal()
	for _, tc := range []struct {
		ns   string
		want []string
	}{
		{"a", []string{"a/x", "a/z"}},
		{"a-b", []string{"a-b/u", "a-b/y"}},
		{"ab", []string{"ab/w"}},
		{"b", []string{"b/v"}},
		{"c", nil},
		{"", nil},
	} {
		var got []string
		for _, svc := range snap.ServicesIn(tc.ns) {
			got = append(got, svc.Key())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ServicesIn(%q) = %q, want %q", tc.ns, got, tc.want)
		}
	}
}
