package folder

import (
	"reflect"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
)

// FuzzDecode: whatever a config file holds, reading it never panics nor
// hangs, is deterministic, names the source and reason of every problem,
// and serves only objects that pass validation again on their own.
//
//	go test ./discovery/folder -run '^$' -fuzz FuzzDecode -fuzztime 2m   # or: make fuzz
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		catalogue + "---\n" + cataloguePods + "---\n" + catalogueRule,
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - destination: {host: a}\n      weight: 100\n",
		"apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: g}\nspec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]}\n",
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nports: [{name: http, port: 80}]\nendpoints: [{addresses: [10.0.0.1]}]\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\ndata: {tls.crt: eA==, tls.key: eA==}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
		"a: [1\n---\n- x\n---\n",
		`{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}, "spec": {"ports": [{"port": 80}]}}`,
	} {
		f.Add([]byte(seed), false)
	}
	f.Add([]byte(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": {"podIP": "10.0.0.1 "}}`), true)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		name := "f.yaml"
		if isJSON {
			name = "f.json"
		}
		read := func() *discovery.Snapshot {
			r := newReader("", Options{})
			r.files[name] = parseFile(name, data, stamp{}, nil)
			return r.snapshot(1, nil)
		}
		s := read()
		for _, p := range s.Problems {
			if p.Source == "" || p.Reason == "" {
				t.Errorf("problem without source or reason: %+v", p)
			}
		}
		if again := read(); !reflect.DeepEqual(problemStrings(s), problemStrings(again)) {
			t.Errorf("two reads differ:\n%v\n%v", s.Problems, again.Problems)
		}
		for _, dr := range s.DestinationRules {
			if ps := discovery.ValidateDestinationRule(dr); len(ps) > 0 {
				t.Errorf("served DestinationRule %s has problems %v", dr.Key(), ps)
			}
		}
		for _, gw := range s.Gateways {
			if ps := discovery.ValidateGateway(gw); len(ps) > 0 {
				t.Errorf("served Gateway %s has problems %v", gw.Key(), ps)
			}
		}
		for _, vs := range s.VirtualServices {
			if ps := discovery.ValidateVirtualService(vs, s.Services, s.DestinationRules); len(ps) > 0 {
				t.Errorf("served VirtualService %s has problems %v", vs.Key(), ps)
			}
		}
		for _, svc := range s.Services {
			for _, p := range svc.Ports {
				if p.Port == 0 || p.Port > 65535 || p.TargetPortNumber > 65535 {
					t.Errorf("served Service %s has port %+v", svc.Key(), p)
				}
			}
		}
		for _, eps := range s.Endpoints {
			for _, ep := range eps {
				if _, err := discovery.ParseIP(ep.Address); err != nil {
					t.Errorf("served endpoint %v: %v", ep, err)
				}
			}
		}
	})
}

func problemStrings(s *discovery.Snapshot) []string {
	var out []string
	for _, p := range s.Problems {
		out = append(out, p.String())
	}
	return out
}
