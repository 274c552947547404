package discovery

import "testing"

func TestWorkloadNames(t *testing.T) {
	tests := []struct {
		name                          string
		labels                        map[string]string
		workload, canonical, revision string
	}{
		{"front-end-v1", map[string]string{"app": "front-end", "version": "v1"}, "front-end-v1", "front-end", "v1"},
		{"reviews-v2-5d8f7b9c4-x2x7q", map[string]string{"pod-template-hash": "5d8f7b9c4", "app": "reviews", "version": "v2"}, "reviews-v2", "reviews", "v2"},
		{"sleep", nil, "sleep", "sleep", "latest"},
		{"web-0", map[string]string{"app.kubernetes.io/name": "web", "app": "other", "service.istio.io/canonical-revision": "r7", "version": "v1"}, "web-0", "web", "r7"},
	}
	for _, tt := range tests {
		p := &Pod{Meta: Meta{Name: tt.name, Labels: tt.labels}}
		if got := p.WorkloadName(); got != tt.workload {
			t.Errorf("%s: workload %q, want %q", tt.name, got, tt.workload)
		}
		if got := p.CanonicalService(); got != tt.canonical {
			t.Errorf("%s: canonical service %q, want %q", tt.name, got, tt.canonical)
		}
		if got := p.CanonicalRevision(); got != tt.revision {
			t.Errorf("%s: canonical revision %q, want %q", tt.name, got, tt.revision)
		}
	}
}
