package translate

import (
	"path/filepath"
	"regexp"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// The bootstrap's stats: tags and the 15090 listener (golden file), for a
// sidecar in local mode.
func TestBootstrapStatsGolden(t *testing.T) {
	b, err := Bootstrap(BootstrapOptions{
		Proxy:   Proxy{Type: Sidecar, IP: "127.10.0.3", PodName: "catalogue-v1", Namespace: "sock-shop"},
		XDSAddr: "127.0.0.1:15010", AdminAddr: "127.20.0.3:15000", StatsAddr: "127.20.0.3:15090", Workload: "catalogue-v1",
	})
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := yaml.JSONToYAML(js)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, filepath.Join("testdata", "golden", "bootstrap", "sidecar-stats.yaml"), got)
}

// The tag regexes cut every embedded segment out of a stat name, leaving
// Envoy's own name, as Envoy applies them (the first group is removed, the
// second is the value). Go's regexp is RE2, as Envoy's is.
func TestStatTagsCutEmbeddedNames(t *testing.T) {
	name := "cluster." + statName("outbound|80|v1|catalogue.sock-shop.svc.cluster.local",
		statTag{tagDestinationService, "catalogue.sock-shop.svc.cluster.local"},
		statTag{tagDestinationVersion, "v1"}, statTag{tagDestinationPort, "80"}) + ".upstream_rq_200"
	want := map[string]string{
		tagClusterName:        "outbound|80|v1|catalogue.sock-shop.svc.cluster.local",
		tagDestinationService: "catalogue.sock-shop.svc.cluster.local",
		tagDestinationVersion: "v1",
		tagDestinationPort:    "80",
	}
	removed := make([]bool, len(name))
	for _, tag := range statsTags(nil) {
		re := tag.GetRegex()
		if re == "" {
			continue // fixed values, and Envoy's own regexes
		}
		m := regexp.MustCompile(re).FindStringSubmatchIndex(name)
		if m == nil {
			t.Errorf("%s: %s does not match %s", tag.TagName, re, name)
			continue
		}
		if got := name[m[4]:m[5]]; got != want[tag.TagName] {
			t.Errorf("%s = %q, want %q", tag.TagName, got, want[tag.TagName])
		}
		for i := m[2]; i < m[3]; i++ {
			removed[i] = true
		}
	}
	var rest []byte
	for i := range name {
		if !removed[i] {
			rest = append(rest, name[i])
		}
	}
	if string(rest) != "cluster.upstream_rq_200" {
		t.Errorf("left after the tags are cut: %q, want cluster.upstream_rq_200", rest)
	}
}
