package discovery

import (
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1"
)

func sidecar(ns, name string, created int, selector map[string]string, hosts ...string) *Sidecar {
	spec := &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: hosts}}}
	if selector != nil {
		spec.WorkloadSelector = &networking.WorkloadSelector{Labels: selector}
	}
	return &Sidecar{Meta: Meta{Kind: "Sidecar", Namespace: ns, Name: name}, Created: time.Unix(int64(created), 0), Spec: spec}
}

func TestSidecarForPicksAsIstioDoes(t *testing.T) {
	web := &Pod{Meta: Meta{Name: "web-0", Namespace: "shop", Labels: map[string]string{"app": "web"}}}
	other := &Pod{Meta: Meta{Name: "db-0", Namespace: "shop", Labels: map[string]string{"app": "db"}}}
	elsewhere := &Pod{Meta: Meta{Name: "x-0", Namespace: "team"}}
	inRoot := &Pod{Meta: Meta{Name: "r-0", Namespace: DefaultRootNamespace}}
	for _, tc := range []struct {
		name     string
		sidecars []*Sidecar
		pod      *Pod
		want     string // key, "" for none
	}{
		{"none", nil, web, ""},
		{"namespace default", []*Sidecar{sidecar("shop", "default", 0, nil, "./*")}, web, "shop/default"},
		{"a selector wins over the namespace default",
			[]*Sidecar{sidecar("shop", "default", 0, nil, "./*"), sidecar("shop", "web", 5, map[string]string{"app": "web"}, "*/*")}, web, "shop/web"},
		{"a selector that does not match",
			[]*Sidecar{sidecar("shop", "default", 0, nil, "./*"), sidecar("shop", "web", 5, map[string]string{"app": "web"}, "*/*")}, other, "shop/default"},
		{"the mesh default, from the root namespace",
			[]*Sidecar{sidecar(DefaultRootNamespace, "default", 0, nil, "./*"), sidecar("shop", "default", 0, nil, "*/*")}, elsewhere, DefaultRootNamespace + "/default"},
		{"a root-namespace Sidecar with a selector is not a mesh default",
			[]*Sidecar{sidecar(DefaultRootNamespace, "gw", 0, map[string]string{"app": "x"}, "./*")}, elsewhere, ""},
		{"the namespace's own default before the mesh's",
			[]*Sidecar{sidecar(DefaultRootNamespace, "default", 0, nil, "./*"), sidecar("shop", "default", 9, nil, "*/*")}, web, "shop/default"},
		{"the root namespace's own pods", []*Sidecar{sidecar(DefaultRootNamespace, "default", 0, nil, "./*")}, inRoot, DefaultRootNamespace + "/default"},
		{"of two selectors, the oldest",
			[]*Sidecar{sidecar("shop", "a", 9, map[string]string{"app": "web"}, "./*"), sidecar("shop", "b", 3, map[string]string{"app": "web"}, "*/*")}, web, "shop/b"},
		{"of two as old, the first by name",
			[]*Sidecar{sidecar("shop", "b", 3, nil, "./*"), sidecar("shop", "a", 3, nil, "*/*")}, web, "shop/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := (&Snapshot{Sidecars: tc.sidecars}).Seal()
			got := ""
			if sc := s.SidecarFor(tc.pod); sc != nil {
				got = sc.Key()
			}
			if got != tc.want {
				t.Errorf("SidecarFor(%s) = %q, want %q", tc.pod.Key(), got, tc.want)
			}
		})
	}
}

func TestSidecarHostMatches(t *testing.T) {
	for _, tc := range []struct {
		host, ns, name, proxyNS string
		want                    bool
	}{
		{"./*", "shop", "web.shop.svc.cluster.local", "shop", true},
		{"./*", "pay", "pay.pay.svc.cluster.local", "shop", false},
		{"*/*", "pay", "pay.pay.svc.cluster.local", "shop", true},
		{"pay/*", "pay", "pay.pay.svc.cluster.local", "shop", true},
		{"pay/*", "shop", "web.shop.svc.cluster.local", "shop", false},
		{"pay/pay.pay.svc.cluster.local", "pay", "pay.pay.svc.cluster.local", "shop", true},
		{"pay/other.pay.svc.cluster.local", "pay", "pay.pay.svc.cluster.local", "shop", false},
		{"*/*.pay.svc.cluster.local", "pay", "pay.pay.svc.cluster.local", "shop", true},
		{"~/*", "shop", "web.shop.svc.cluster.local", "shop", false},
	} {
		h, ok := ParseSidecarHost(tc.host)
		if !ok {
			t.Fatalf("%q did not parse", tc.host)
		}
		if got := h.Matches(tc.ns, tc.name, tc.proxyNS); got != tc.want {
			t.Errorf("%q matches %s/%s (proxy in %s) = %v, want %v", tc.host, tc.ns, tc.name, tc.proxyNS, got, tc.want)
		}
	}
}

func TestValidateSidecar(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  *networking.Sidecar
		field string // of the one problem; "" for none
		says  string
	}{
		{"egress to its namespace", &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"./*", "istio-system/*"}}}}, "", ""},
		{"a port-specific listener and a catch-all", &networking.Sidecar{Egress: []*networking.IstioEgressListener{
			{Port: &networking.SidecarPort{Number: 80, Protocol: "HTTP", Name: "http"}, Hosts: []string{"shop/*"}}, {Hosts: []string{"./*"}}}}, "", ""},
		{"no namespace part", &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"web.shop.svc.cluster.local"}}}},
			"spec.egress[0].hosts[0]", "want namespace/dnsName"},
		{"a bad namespace", &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"Shop_1/*"}}}},
			"spec.egress[0].hosts[0]", "not a namespace name"},
		{"no hosts", &networking.Sidecar{Egress: []*networking.IstioEgressListener{{}}}, "spec.egress[0].hosts", "needs hosts"},
		{"two catch-alls", &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"./*"}}, {Hosts: []string{"*/*"}}}},
			"spec.egress", "at most one"},
		{"ingress", &networking.Sidecar{Ingress: []*networking.IstioIngressListener{{DefaultEndpoint: "127.0.0.1:8080"}}}, "spec.ingress[0]", "not supported"},
		{"outboundTrafficPolicy", &networking.Sidecar{OutboundTrafficPolicy: &networking.OutboundTrafficPolicy{Mode: networking.OutboundTrafficPolicy_REGISTRY_ONLY}},
			"spec.outboundTrafficPolicy", "not supported"},
		{"bind", &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Bind: "127.0.0.9", Hosts: []string{"./*"}}}}, "spec.egress[0].bind", "not supported"},
		{"an empty selector", &networking.Sidecar{WorkloadSelector: &networking.WorkloadSelector{}, Egress: []*networking.IstioEgressListener{{Hosts: []string{"./*"}}}},
			"spec.workloadSelector.labels", "needs labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ValidateSidecar(&Sidecar{Meta: Meta{Kind: "Sidecar", Namespace: "shop", Name: "s"}, Spec: tc.spec})
			switch {
			case tc.field == "" && len(got) > 0:
				t.Fatalf("problems %v, want none", got)
			case tc.field != "" && (len(got) != 1 || got[0].Field != tc.field || !strings.Contains(got[0].Reason, tc.says)):
				t.Fatalf("problems %v, want one on %s saying %q", got, tc.field, tc.says)
			}
		})
	}
}
