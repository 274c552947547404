package discovery

import (
	"strings"
	"testing"

	security "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
)

func peerAuth(name string, spec *security.PeerAuthentication) *PeerAuthentication {
	return &PeerAuthentication{Meta: Meta{Kind: "PeerAuthentication", Name: name, Namespace: "shop"}, Spec: spec}
}

func TestValidatePeerAuthentication(t *testing.T) {
	web := &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "web"}}
	mode := func(m security.PeerAuthentication_MutualTLS_Mode) *security.PeerAuthentication_MutualTLS {
		return &security.PeerAuthentication_MutualTLS{Mode: m}
	}
	for name, tc := range map[string]struct {
		spec  *security.PeerAuthentication
		field string // "" for valid
	}{
		"no spec":            {nil, ""},
		"namespace STRICT":   {&security.PeerAuthentication{Mtls: mode(security.PeerAuthentication_MutualTLS_STRICT)}, ""},
		"workload with port": {&security.PeerAuthentication{Selector: web, PortLevelMtls: map[uint32]*security.PeerAuthentication_MutualTLS{8080: mode(security.PeerAuthentication_MutualTLS_DISABLE)}}, ""},
		"port without selector": {&security.PeerAuthentication{PortLevelMtls: map[uint32]*security.PeerAuthentication_MutualTLS{8080: mode(security.PeerAuthentication_MutualTLS_DISABLE)}},
			"spec.portLevelMtls"},
		"port 0":       {&security.PeerAuthentication{Selector: web, PortLevelMtls: map[uint32]*security.PeerAuthentication_MutualTLS{0: mode(security.PeerAuthentication_MutualTLS_DISABLE)}}, "spec.portLevelMtls.0"},
		"port 70000":   {&security.PeerAuthentication{Selector: web, PortLevelMtls: map[uint32]*security.PeerAuthentication_MutualTLS{70000: mode(security.PeerAuthentication_MutualTLS_DISABLE)}}, "spec.portLevelMtls.70000"},
		"unknown mode": {&security.PeerAuthentication{Mtls: mode(9)}, "spec.mtls.mode"},
		"port with no mode": {&security.PeerAuthentication{Selector: web, PortLevelMtls: map[uint32]*security.PeerAuthentication_MutualTLS{8080: nil}},
			"spec.portLevelMtls.8080"},
	} {
		problems := ValidatePeerAuthentication(peerAuth("p", tc.spec))
		switch {
		case tc.field == "" && len(problems) > 0:
			t.Errorf("%s: %v", name, problems)
		case tc.field != "" && (len(problems) == 0 || problems[0].Field != tc.field):
			t.Errorf("%s: %v, want a problem at %s", name, problems, tc.field)
		}
	}
}

func TestPeerAuthenticationSelectingNothingIsReportedAndKept(t *testing.T) {
	s := &Snapshot{
		Pods: []*Pod{{Meta: Meta{Name: "web-1", Namespace: "other", Labels: map[string]string{"app": "web"}}}},
		PeerAuthentications: []*PeerAuthentication{
			peerAuth("typo", &security.PeerAuthentication{Selector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "wbe"}}}),
			// Matches a pod of another namespace: it would apply there from
			// the root namespace, so it is not reported.
			peerAuth("web", &security.PeerAuthentication{Selector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "web"}}}),
		},
	}
	problems := Validate(s)
	if len(problems) != 1 || problems[0].Name != "shop/typo" || !strings.Contains(problems[0].Reason, "selects no pod") {
		t.Errorf("problems %v, want one for shop/typo", problems)
	}
	if len(s.PeerAuthentications) != 2 {
		t.Errorf("%d policies kept, want both", len(s.PeerAuthentications))
	}
}

func TestHasSidecar(t *testing.T) {
	local := map[string]string{LocalAddressAnnotation: "127.20.0.1"}
	for name, tc := range map[string]struct {
		labels, annotations map[string]string
		want                bool
	}{
		"local mode":                 {nil, local, true},
		"local mode, inject false":   {map[string]string{InjectLabel: "false"}, local, false},
		"inject false annotation":    {nil, map[string]string{LocalAddressAnnotation: "127.20.0.1", InjectLabel: "false"}, false},
		"cluster pod, tlsMode istio": {map[string]string{TLSModeLabel: "istio"}, nil, true},
		"tlsMode disabled":           {map[string]string{TLSModeLabel: "disabled"}, local, false},
		"cluster pod, no label":      {nil, nil, false},
	} {
		p := &Pod{Meta: Meta{Labels: tc.labels, Annotations: tc.annotations}}
		if got := p.HasSidecar(); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
