package discovery

import (
	"testing"

	networking "istio.io/api/networking/v1"
)

// TestUnsupportedFieldsAreReported: every field pilotlight does not
// implement is a problem on its path when set (the object is not served),
// or a warning (it is served without it); none is accepted silently.
func TestUnsupportedFieldsAreReported(t *testing.T) {
	cases := []struct {
		kind, spec, field string
		warning           bool
	}{
		{"VirtualService", "hosts: [catalogue]\nhttp: [{delegate: {name: d}}]", "spec.http[0].delegate", false},
		{"VirtualService", "hosts: [catalogue]\nhttp: [{match: [{statPrefix: s}], route: [{destination: {host: catalogue}}]}]", "spec.http[0].match[0].statPrefix", true},
		{"VirtualService", "hosts: [catalogue]\ntcp: [{match: [{sourceSubnet: 10.0.0.0/8}], route: [{destination: {host: catalogue}}]}]", "spec.tcp[0].match[0].sourceSubnet", false},
		{"VirtualService", "hosts: [catalogue]\ntcp: [{match: [{destinationSubnets: [10.0.0.0/8]}], route: [{destination: {host: catalogue}}]}]", "spec.tcp[0].match[0].destinationSubnets", true},
		{"DestinationRule", "host: catalogue\nexportTo: [.]", "spec.exportTo", false},
		{"DestinationRule", "host: catalogue\nworkloadSelector: {matchLabels: {app: a}}", "spec.workloadSelector", false},
		{"DestinationRule", "host: catalogue\ntrafficPolicy: {loadBalancer: {localityLbSetting: {enabled: true}}}", "spec.trafficPolicy.loadBalancer.localityLbSetting", false},
		{"DestinationRule", "host: catalogue\ntrafficPolicy: {loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 10s}}", "spec.trafficPolicy.loadBalancer.warmupDurationSecs", false},
		{"DestinationRule", "host: catalogue\ntrafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}", "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy", false},
		{"DestinationRule", "host: catalogue\ntrafficPolicy: {connectionPool: {http: {maxConcurrentStreams: 10}}}", "spec.trafficPolicy.connectionPool.http.maxConcurrentStreams", false},
		{"DestinationRule", "host: catalogue\ntrafficPolicy: {outlierDetection: {outlierDetectionHttpErrorCodes: [503]}}", "spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes", false},
		{"DestinationRule", "host: catalogue\ntrafficPolicy: {proxyProtocol: {version: V1}}", "spec.trafficPolicy.proxyProtocol", false},
		{"DestinationRule", "host: catalogue\ntrafficPolicy: {retryBudget: {percent: 20}}", "spec.trafficPolicy.retryBudget", false},
		{"DestinationRule", "host: catalogue\ntrafficPolicy: {tunnel: {targetHost: a, targetPort: 80}}", "spec.trafficPolicy.tunnel", false},
		{"DestinationRule", "host: catalogue\nsubsets: [{name: v1, labels: {v: '1'}, trafficPolicy: {portLevelSettings: [{port: {number: 80}, loadBalancer: {zoneAwareLbSetting: {enabled: true}}}]}}]",
			"spec.subsets[0].trafficPolicy.portLevelSettings[0].loadBalancer.zoneAwareLbSetting", false},
		{"Gateway", "servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*'], bind: 127.0.0.1}]", "spec.servers[0].bind", false},
		{"Gateway", "servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*'], defaultEndpoint: '127.0.0.1:8080'}]", "spec.servers[0].defaultEndpoint", false},
		{"Gateway", "servers: [{port: {number: 80, name: http, protocol: HTTP, targetPort: 8080}, hosts: ['*']}]", "spec.servers[0].port.targetPort", false},
		{"Gateway", "servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: c, cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256]}}]", "spec.servers[0].tls.cipherSuites", false},
		{"Gateway", "servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*'], name: main}]", "spec.servers[0].name", true},
	}
	for _, tc := range cases {
		var problems []Problem
		switch tc.kind {
		case "VirtualService":
			vs := &VirtualService{Meta: Meta{Name: "vs", Namespace: "sock-shop"}, Spec: specOf(t, &networking.VirtualService{}, tc.spec)}
			problems = ValidateVirtualService(vs, testServices, testRules)
		case "DestinationRule":
			problems = ValidateDestinationRule(&DestinationRule{Meta: Meta{Name: "dr", Namespace: "sock-shop"}, Spec: specOf(t, &networking.DestinationRule{}, tc.spec)})
		case "Gateway":
			problems = ValidateGateway(&Gateway{Meta: Meta{Name: "gw", Namespace: "edge"}, Spec: specOf(t, &networking.Gateway{}, tc.spec)})
		}
		found := false
		for _, p := range problems {
			if p.Field == tc.field {
				found = true
				if isWarning(p) != tc.warning {
					t.Errorf("%s %s: warning %v, want %v: %v", tc.kind, tc.field, isWarning(p), tc.warning, p)
				}
			}
		}
		if !found {
			t.Errorf("%s: %s is not reported; problems %v", tc.kind, tc.field, problems)
		}
		if tc.warning && len(errorsOf(problems)) > 0 {
			t.Errorf("%s %s: a warning only, yet errors %v", tc.kind, tc.field, errorsOf(problems))
		}
	}
}

// TestWarningsLeaveTheObjectServed: a VirtualService with an ignored field
// is served, and the warning is reported.
func TestWarningsLeaveTheObjectServed(t *testing.T) {
	s := &Snapshot{Services: testServices, DestinationRules: testRules, VirtualServices: []*VirtualService{{
		Meta: Meta{Kind: "VirtualService", Name: "vs", Namespace: "sock-shop"},
		Spec: specOf(t, &networking.VirtualService{}, "hosts: [catalogue]\nhttp: [{match: [{statPrefix: s}], route: [{destination: {host: catalogue}}]}]"),
	}}}
	problems := Validate(s)
	if len(s.VirtualServices) != 1 || len(problems) != 1 || !isWarning(problems[0]) {
		t.Errorf("served %d VirtualServices, problems %v; want it served with one warning", len(s.VirtualServices), problems)
	}
}
