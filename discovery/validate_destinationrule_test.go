package discovery

import (
	"slices"
	"sort"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	networking "istio.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// drSpec decodes the YAML of a DestinationRule spec.
func drSpec(t *testing.T, y string) *networking.DestinationRule {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	spec := &networking.DestinationRule{}
	if err := protojson.Unmarshal(js, spec); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	return spec
}

// TestValidateDestinationRuleTrafficPolicyAccepts: a rule that uses every
// translated field with good values has no problems.
func TestValidateDestinationRuleTrafficPolicyAccepts(t *testing.T) {
	spec := drSpec(t, `
host: reviews
trafficPolicy:
  loadBalancer:
    consistentHash:
      httpCookie: {name: session, ttl: 0s}
      maglev: {tableSize: 65537}
  connectionPool:
    tcp: {maxConnections: 1, connectTimeout: 0.250s, tcpKeepalive: {time: 60s, interval: 10s, probes: 3}}
    http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1, idleTimeout: 30s}
  outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100, minHealthPercent: 0}
  tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem, sni: a.example, subjectAltNames: [a.example]}
  portLevelSettings:
  - port: {number: 9080}
    loadBalancer: {simple: PASSTHROUGH}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 1024}}}
`)
	if problems := ValidateDestinationRule(&DestinationRule{Meta: Meta{Name: "reviews", Namespace: "bookinfo"}, Spec: spec}); len(problems) > 0 {
		t.Errorf("want no problems, got %v", problems)
	}
}

// TestValidateDestinationRuleTrafficPolicyRejects: each bad value is a
// Problem that names the rule and the field.
func TestValidateDestinationRuleTrafficPolicyRejects(t *testing.T) {
	cases := []struct {
		name, policy string
		fields       []string // under spec.trafficPolicy
	}{
		{"empty policy", `{}`, []string{""}},
		{"cookie without name", `loadBalancer: {consistentHash: {httpCookie: {ttl: 10s}}}`,
			[]string{".loadBalancer.consistentHash.httpCookie.name"}},
		{"bad header name", `loadBalancer: {consistentHash: {httpHeaderName: "x user"}}`,
			[]string{".loadBalancer.consistentHash.httpHeaderName"}},
		{"empty query parameter", `loadBalancer: {consistentHash: {httpQueryParameterName: ""}}`,
			[]string{".loadBalancer.consistentHash.httpQueryParameterName"}},
		{"maglev table not prime", `loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 1000}}}`,
			[]string{".loadBalancer.consistentHash.maglev.tableSize"}},
		{"maglev table too big", `loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 5000011}}}`,
			[]string{".loadBalancer.consistentHash.maglev.tableSize"}},
		{"ring too big", `loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 9000000}}}`,
			[]string{".loadBalancer.consistentHash.ringHash.minimumRingSize"}},
		{"two ring sizes", `loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 1024, ringHash: {}}}`,
			[]string{".loadBalancer.consistentHash.minimumRingSize"}},
		{"empty pool", `connectionPool: {}`, []string{".connectionPool"}},
		{"negative limits", `connectionPool: {tcp: {maxConnections: -1}, http: {http1MaxPendingRequests: -1, maxRetries: -3}}`,
			[]string{".connectionPool.http.http1MaxPendingRequests", ".connectionPool.http.maxRetries", ".connectionPool.tcp.maxConnections"}},
		{"sub-millisecond timeout", `connectionPool: {tcp: {connectTimeout: 0.0001s}}`, []string{".connectionPool.tcp.connectTimeout"}},
		{"keepalive below a second", `connectionPool: {tcp: {tcpKeepalive: {interval: 0.5s}}}`,
			[]string{".connectionPool.tcp.tcpKeepalive.interval"}},
		{"outlier percentages", `outlierDetection: {maxEjectionPercent: 101, minHealthPercent: -1}`,
			[]string{".outlierDetection.maxEjectionPercent", ".outlierDetection.minHealthPercent"}},
		{"outlier zero interval", `outlierDetection: {interval: 0s}`, []string{".outlierDetection.interval"}},
		{"local origin without split", `outlierDetection: {consecutiveLocalOriginFailures: 2}`,
			[]string{".outlierDetection.consecutiveLocalOriginFailures"}},
		{"mutual without files", `tls: {mode: MUTUAL}`, []string{".tls.clientCertificate", ".tls.privateKey"}},
		{"relative path", `tls: {mode: SIMPLE, caCertificates: ca.pem}`, []string{".tls.caCertificates"}},
		{"credentialName", `tls: {mode: SIMPLE, credentialName: my-secret}`, []string{".tls.credentialName"}},
		{"istio mutual with files", `tls: {mode: ISTIO_MUTUAL, caCertificates: /ca.pem}`, []string{".tls"}},
		{"port without number", `portLevelSettings: [{loadBalancer: {simple: RANDOM}}]`,
			[]string{".portLevelSettings[0].port.number"}},
		{"empty port policy", `portLevelSettings: [{port: {number: 80}}]`, []string{".portLevelSettings[0]"}},
		{"bad value in port policy", `portLevelSettings: [{port: {number: 80}, outlierDetection: {maxEjectionPercent: 200}}]`,
			[]string{".portLevelSettings[0].outlierDetection.maxEjectionPercent"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := drSpec(t, "host: reviews\ntrafficPolicy: "+flowMapping(tc.policy))
			problems := ValidateDestinationRule(&DestinationRule{Meta: Meta{Name: "reviews", Namespace: "bookinfo"}, Spec: spec})
			var got []string
			for _, p := range problems {
				if p.Kind != "DestinationRule" || p.Name != "bookinfo/reviews" {
					t.Errorf("problem %v does not name DestinationRule bookinfo/reviews", p)
				}
				got = append(got, p.Field)
			}
			want := make([]string, len(tc.fields))
			for i, f := range tc.fields {
				want[i] = "spec.trafficPolicy" + f
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("fields %q, want %q; problems: %v", got, want, problems)
			}
		})
	}
}

// TestValidateDestinationRuleSubsetPolicy: a subset's policy is checked too.
func TestValidateDestinationRuleSubsetPolicy(t *testing.T) {
	spec := drSpec(t, `
host: reviews
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: -1}}}
`)
	problems := ValidateDestinationRule(&DestinationRule{Meta: Meta{Name: "reviews", Namespace: "bookinfo"}, Spec: spec})
	if len(problems) != 1 || problems[0].Field != "spec.subsets[0].trafficPolicy.connectionPool.http.maxRequestsPerConnection" {
		t.Errorf("want one problem at spec.subsets[0].trafficPolicy.connectionPool.http.maxRequestsPerConnection, got %v", problems)
	}
}

// flowMapping makes "a: 1, b: 2" the YAML flow mapping {a: 1, b: 2}.
func flowMapping(fields string) string {
	if fields == "{}" {
		return fields
	}
	return "{" + fields + "}"
}
