package discovery

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// wantProblem checks that problems hold one at field whose reason contains
// want, or none when field is "".
func wantProblem(t *testing.T, what string, problems []Problem, field, want string) {
	t.Helper()
	if field == "" {
		if len(problems) > 0 {
			t.Errorf("%s: problems %v, want none", what, problems)
		}
		return
	}
	for _, p := range problems {
		if p.Field == field && strings.Contains(p.Reason, want) {
			return
		}
	}
	t.Errorf("%s: problems %v, want one at %s containing %q", what, problems, field, want)
}

// TestHostsEnvoyWouldRefuse: VirtualService and destination hosts with
// spaces, newlines or non-ASCII letters, or too long, are reported.
func TestHostsEnvoyWouldRefuse(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"front end", "not a host name"},
		{"front-end\n", "not a host name"},
		{"fröntend.example.com", "not a host name"},
		{"a." + strings.Repeat("b", 64) + ".com", "not a host name"},
		{strings.Repeat("abcdefghi.", 26) + "com", "not a host name"},
		{"*.example.com", ""},
		{"catalogue.sock-shop.svc.cluster.local.", ""},
		{"10.0.0.1", ""},
	} {
		for _, gateways := range [][]string{nil, {"edge/gw"}} {
			vs := &VirtualService{Meta: Meta{Name: "vs", Namespace: "sock-shop"}, Spec: &networking.VirtualService{
				Hosts: []string{tc.host}, Gateways: gateways,
				Http: []*networking.HTTPRoute{routeTo(weighted(dest("catalogue", "", 0), 0))}}}
			field := ""
			if tc.want != "" {
				field = "spec.hosts[0]"
			}
			wantProblem(t, "host "+tc.host, ValidateVirtualService(vs, testServices, testRules), field, tc.want)
		}
		vs := &VirtualService{Meta: Meta{Name: "vs", Namespace: "sock-shop"}, Spec: &networking.VirtualService{
			Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{routeTo(weighted(dest(tc.host, "", 0), 0))}}}
		field := ""
		if tc.want != "" {
			field = "spec.http[0].route[0].destination.host"
		}
		wantProblem(t, "destination "+tc.host, ValidateVirtualService(vs, testServices, testRules), field, tc.want)
	}
}

// TestRegexesEnvoyRefuses: escapes beyond \xFF, which Go takes and Envoy's
// Latin-1 RE2 refuses, are reported; the same text as a literal is not.
func TestRegexesEnvoyRefuses(t *testing.T) {
	for _, tc := range []struct{ re, want string }{
		{`\x{100}`, `\x{100}`},
		{`[^\x00-\x{10FFFF}]`, `\x{10FFFF}`},
		{`a[\x{ff}-\x{0100}]`, `\x{0100}`},
		{`\x{FF}`, ""},
		{`\xff`, ""},
		{`\\x{2}`, ""},        // a backslash, then x{2}
		{`\Q\x{100}\E`, ""},   // literal text
		{`café|ā+`, ""},       // non-ASCII text is its bytes
		{`\x{100`, "RE2"},     // Go refuses it first
		{`a{1001}`, "RE2"},    // as does Envoy
		{`(?i)\x{FF}`, ""},    //
		{`[\p{L}]+`, ""},      // Unicode classes compile in Latin-1 too
		{`\x{0000100}`, `\x`}, // leading zeros do not hide it
	} {
		p := &problemList{kind: "VirtualService", name: "ns/vs"}
		checkRE2(p, "re", tc.re)
		field := ""
		if tc.want != "" {
			field = "re"
		}
		wantProblem(t, "regex "+tc.re, p.list, field, tc.want)
	}
}

// TestDurationsEnvoyRefuses: a duration beyond Envoy's range says the
// range, whatever field holds it; one within the range is not reported.
func TestDurationsEnvoyRefuses(t *testing.T) {
	for _, tc := range []struct {
		d    *durationpb.Duration
		want string
	}{
		{&durationpb.Duration{Seconds: 315576000000}, "315576000000s is out of range: Envoy takes durations from 0s to 9223372035s"},
		{&durationpb.Duration{Seconds: 9223372036}, "9223372036s is out of range"},
		{&durationpb.Duration{Seconds: 9223372035}, ""},
		{&durationpb.Duration{Seconds: -1}, "-1s is negative"},
		{&durationpb.Duration{Seconds: 1, Nanos: -1}, "not a valid duration"},
		{&durationpb.Duration{Nanos: 2_000_000}, ""},
	} {
		vs := &VirtualService{Meta: Meta{Name: "vs", Namespace: "sock-shop"}, Spec: &networking.VirtualService{
			Hosts: []string{"catalogue"}, Http: []*networking.HTTPRoute{{Timeout: tc.d, Route: []*networking.HTTPRouteDestination{weighted(dest("catalogue", "", 0), 0)},
				Retries: &networking.HTTPRetry{Attempts: 1, PerTryTimeout: tc.d}}}}}
		field := ""
		if tc.want != "" {
			field = "spec.http[0].timeout"
		}
		problems := ValidateVirtualService(vs, testServices, testRules)
		wantProblem(t, "timeout "+formatDuration(tc.d), problems, field, tc.want)
		if field != "" {
			wantProblem(t, "perTryTimeout "+formatDuration(tc.d), problems, "spec.http[0].retries.perTryTimeout", tc.want)
			for _, p := range problems {
				if strings.Contains(p.Reason, "whole number") || strings.Contains(p.Reason, "2562047h") {
					t.Errorf("%s: unclear problem %q", formatDuration(tc.d), p)
				}
			}
		}
		dr := &DestinationRule{Meta: Meta{Name: "dr", Namespace: "sock-shop"}, Spec: &networking.DestinationRule{Host: "catalogue",
			TrafficPolicy: &networking.TrafficPolicy{OutlierDetection: &networking.OutlierDetection{Interval: tc.d}}}}
		if field != "" {
			field = "spec.trafficPolicy.outlierDetection.interval"
		}
		wantProblem(t, "interval "+formatDuration(tc.d), ValidateDestinationRule(dr), field, tc.want)
	}
	dr := &DestinationRule{Meta: Meta{Name: "dr", Namespace: "sock-shop"}, Spec: &networking.DestinationRule{Host: "catalogue",
		TrafficPolicy: &networking.TrafficPolicy{ConnectionPool: &networking.ConnectionPoolSettings{Tcp: &networking.ConnectionPoolSettings_TCPSettings{
			TcpKeepalive: &networking.ConnectionPoolSettings_TCPSettings_TcpKeepalive{Time: &durationpb.Duration{Seconds: 1 << 32}}}}}}}
	wantProblem(t, "keepalive of 2^32 s", ValidateDestinationRule(dr), "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.time", "limit for keepalive")
}

func service(name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: corev1.ServiceSpec{Ports: ports}}
}

// TestKubernetesObjectsEnvoyWouldRefuse: what the hostile inputs
// put in Services, Pods and EndpointSlices is reported on its field.
func TestKubernetesObjectsEnvoyWouldRefuse(t *testing.T) {
	http := corev1.ServicePort{Name: "http", Port: 80}
	cases := []struct {
		what   string
		check  func() []Problem
		field  string
		reason string
	}{
		{"service port 0", func() []Problem { return ValidateService(service("a", corev1.ServicePort{Port: 0})) }, "spec.ports[0].port", "not in 1..65535"},
		{"service port 65536", func() []Problem { return ValidateService(service("a", corev1.ServicePort{Port: 65536})) }, "spec.ports[0].port", "65536"},
		{"service port -1", func() []Problem { return ValidateService(service("a", corev1.ServicePort{Port: -1})) }, "spec.ports[0].port", "-1"},
		{"targetPort 70000", func() []Problem {
			return ValidateService(service("a", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(70000)}))
		}, "spec.ports[0].targetPort", "70000"},
		{"targetPort name too long", func() []Problem {
			return ValidateService(service("a", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("a-very-long-port-name")}))
		}, "spec.ports[0].targetPort", "port name"},
		{"two ports with one number", func() []Problem {
			return ValidateService(service("a", http, corev1.ServicePort{Name: "http2", Port: 80}))
		}, "spec.ports[1].port", "already spec.ports[0]"},
		{"one number for TCP and UDP is fine", func() []Problem {
			return ValidateService(service("dns", corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, corev1.ServicePort{Name: "dns-tcp", Port: 53}))
		}, "", ""},
		{"unnamed ports", func() []Problem {
			return ValidateService(service("a", corev1.ServicePort{Port: 80}, corev1.ServicePort{Port: 81}))
		}, "spec.ports[0].name", "name each"},
		{"upper case service name", func() []Problem { return checkObjectName("Service", "shop/Catalogue") }, "metadata.name", "valid name"},
		{"service name starting with a digit", func() []Problem { return ValidateService(service("1catalogue", http)) }, "metadata.name", "Service name"},
		{"service name with a space", func() []Problem { return checkObjectName("Service", "shop/cata logue") }, "metadata.name", "valid name"},
		{"300-character name", func() []Problem { return checkObjectName("Service", "shop/"+strings.Repeat("a", 300)) }, "metadata.name", "253"},
		{"bad namespace", func() []Problem { return checkObjectName("VirtualService", "Shop_1/vs") }, "metadata.namespace", "valid name"},
		{"ExternalName", func() []Problem {
			svc := service("a", http)
			svc.Spec.Type, svc.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
			return ValidateService(svc)
		}, "spec.type", "ExternalName"},
		{"ClientIP affinity", func() []Problem {
			svc := service("a", http)
			svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			return ValidateService(svc)
		}, "spec.sessionAffinity", "not implemented"},
		{"pod IP abc", func() []Problem { return ValidatePod(pod("abc", nil)) }, "status.podIP", `"abc" is not an IP address`},
		{"pod IP 999.1.1.1", func() []Problem { return ValidatePod(pod("999.1.1.1", nil)) }, "status.podIP", "not an IP"},
		{"pod IP with a trailing space", func() []Problem { return ValidatePod(pod("10.0.0.1 ", nil)) }, "status.podIP", "not an IP"},
		{"pod IP with leading zeros", func() []Problem { return ValidatePod(pod("010.0.0.1", nil)) }, "status.podIP", "not an IP"},
		{"local address not-an-ip", func() []Problem {
			return ValidatePod(pod("10.0.0.1", map[string]string{LocalAddressAnnotation: "not-an-ip"}))
		}, "metadata.annotations." + LocalAddressAnnotation, "must be an IP address"},
		{"container port 0", func() []Problem { return ValidatePod(podPort(0)) }, "spec.containers[0].ports[0].containerPort", "not in 1..65535"},
		{"container port 70000", func() []Problem { return ValidatePod(podPort(70000)) }, "spec.containers[0].ports[0].containerPort", "70000"},
		{"a good pod", func() []Problem {
			return ValidatePod(pod("10.0.0.1", map[string]string{LocalAddressAnnotation: "127.20.0.1"}))
		}, "", ""},
		{"slice address abc", func() []Problem { return ValidateEndpointSlice(slice("abc", 8080)) }, "endpoints[0].addresses[0]", "not an IP"},
		{"slice port 70000", func() []Problem { return ValidateEndpointSlice(slice("10.0.0.1", 70000)) }, "ports[0].port", "70000"},
		{"IPv6 in an IPv4 slice", func() []Problem { return ValidateEndpointSlice(slice("::1", 80)) }, "endpoints[0].addresses[0]", "not an IPv4"},
	}
	for _, tc := range cases {
		wantProblem(t, tc.what, tc.check(), tc.field, tc.reason)
	}
}

func pod(ip string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Annotations: annotations}, Status: corev1.PodStatus{PodIP: ip}}
}

func podPort(port int32) *corev1.Pod {
	p := pod("10.0.0.1", nil)
	p.Spec.Containers = []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: port}}}}
	return p
}

func slice(addr string, port int32) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "shop"}, AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{addr}}}, Ports: []discoveryv1.EndpointPort{{Port: &port}}}
}
