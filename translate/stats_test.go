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
		TokenFile: "/state/tokens/sock-shop.catalogue-v1.token", RootCertFile: "/state/root-cert.pem",
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

// The tag regexes read Istio-style cluster names in stat names and cut the
// cluster's name out, leaving Envoy's own stat name, as Envoy applies them
// (each regex on the whole name; the first group is removed, the second is
// the value). Go's regexp and Envoy's agree on these simple expressions.
func TestStatTagsReadClusterNames(t *testing.T) {
	tests := []struct {
		stat string
		want map[string]string
		rest string
	}{
		{"cluster.outbound|80|v1|catalogue.sock-shop.svc.cluster.local.upstream_rq_200", map[string]string{
			"cluster_name": "outbound|80|v1|catalogue.sock-shop.svc.cluster.local", "destination_service": "catalogue.sock-shop.svc.cluster.local",
			"destination_version": "v1", "destination_port": "80"}, "cluster.upstream_rq_200"},
		{"cluster.outbound|9080||reviews.bookinfo.svc.cluster.local.upstream_cx_total", map[string]string{
			"cluster_name": "outbound|9080||reviews.bookinfo.svc.cluster.local", "destination_service": "reviews.bookinfo.svc.cluster.local",
			"destination_port": "9080"}, "cluster.upstream_cx_total"},
		{"cluster.inbound|8080||.upstream_rq_200", map[string]string{"cluster_name": "inbound|8080||"}, "cluster.upstream_rq_200"},
		{"cluster.xds-grpc.upstream_cx_active", map[string]string{"cluster_name": "xds-grpc"}, "cluster.upstream_cx_active"},
	}
	for _, tt := range tests {
		got := map[string]string{}
		removed := make([]bool, len(tt.stat))
		for _, tag := range statsTags(nil) {
			re := tag.GetRegex()
			if re == "" {
				continue // fixed values, and Envoy's own regexes
			}
			m := regexp.MustCompile(re).FindStringSubmatchIndex(tt.stat)
			if m == nil {
				continue
			}
			got[tag.TagName] = tt.stat[m[4]:m[5]]
			for i := m[2]; i < m[3]; i++ {
				removed[i] = true
			}
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: tags %v, want %v", tt.stat, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tt.stat, k, got[k], v)
			}
		}
		var rest []byte
		for i := range tt.stat {
			if !removed[i] {
				rest = append(rest, tt.stat[i])
			}
		}
		if string(rest) != tt.rest {
			t.Errorf("%s: left after the tags are cut: %q, want %q", tt.stat, rest, tt.rest)
		}
	}
}
