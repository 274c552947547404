package discovery

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBuildClusterIP: an IPv4 spec.clusterIP is kept; None (headless) and
// an absent one give none; anything else is reported on the field (a
// warning: the Service is served without it).
func TestBuildClusterIP(t *testing.T) {
	cases := []struct {
		clusterIP, want, problem string
	}{
		{"10.96.0.10", "10.96.0.10", ""},
		{"", "", ""},
		{"None", "", ""},
		{"fd00::10", "", "not an IPv4 address"},
		{"ten.dot", "", "not an IPv4 address"},
	}
	for _, tc := range cases {
		t.Run(tc.clusterIP, func(t *testing.T) {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"},
				Spec:       corev1.ServiceSpec{ClusterIP: tc.clusterIP, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
			}
			s := NewBuilder().Build(Input{Services: []*corev1.Service{svc}})
			if got := s.Services[0].ClusterIP; got != tc.want {
				t.Errorf("ClusterIP = %q, want %q", got, tc.want)
			}
			if tc.problem == "" {
				if len(s.Problems) != 0 {
					t.Errorf("problems %v, want none", s.Problems)
				}
				return
			}
			checkProblems(t, s.Problems, "Service", "ns/b", "spec.clusterIP", tc.problem)
		})
	}
}
