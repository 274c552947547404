package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestProxyConfig: what pilotlight says it sends a sidecar is what that
// Envoy holds (its admin config_dump, read by --from-envoy), for every
// kind, and the tables name the sock shop's clusters, routes, listeners
// and endpoints.
func TestProxyConfig(t *testing.T) {
	s := startSockShop(t, map[string]string{"dr.yaml": destinationRuleFrontEnd, "catalogue-timeout.yaml": catalogueTimeout})
	pod := "sleep." + ns
	if err := s.WaitSettled(converge); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"cluster", "listener", "route", "endpoint"} {
		var sent, held []map[string]any
		if err := cliJSON(t, s.Mesh, &sent, "proxy-config", kind, pod); err != nil {
			t.Fatal(err)
		}
		if err := cliJSON(t, s.Mesh, &held, "proxy-config", kind, pod, "--from-envoy", s.client.Admin()); err != nil {
			t.Fatal(err)
		}
		sentNames, heldNames := names(sent), names(held)
		// The bootstrap's static resources: the clusters to the control
		// plane, and the stats listener with its route and cluster.
		heldNames = slices.DeleteFunc(heldNames, func(n string) bool {
			return n == "xds-grpc" || n == "prometheus_stats" || n == "stats_prometheus" || n == "pilotlight-telemetry"
		})
		if len(sentNames) == 0 || !slices.Equal(sentNames, heldNames) {
			t.Errorf("%s: pilotlight sends %q, Envoy holds %q", kind, sentNames, heldNames)
		}
	}

	tables := map[string][]string{
		"cluster": {`(?m)^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE$`,
			`(?m)^front-end\.sock-shop\.svc\.cluster\.local\s+80\s+v2\s+outbound\s+EDS$`},
		"listener": {`(?m)^ADDRESSES\s+PORT\s+MATCH\s+DESTINATION$`,
			`(?m)^` + regexp.QuoteMeta(s.client.Local) + `\s+15001\s+ALL\s+Route: http_proxy$`},
		"route": {`(?m)^NAME\s+VHOST NAME\s+DOMAINS\s+MATCH\s+DESTINATION$`,
			`(?m)^http_proxy\s+catalogue\.sock-shop\.svc\.cluster\.local:80\s+catalogue\.sock-shop\.svc\.cluster\.local:80 \+ \d+ more\.\.\.\s+/\*\s+outbound\|80\|\|catalogue`},
		"endpoint": {`(?m)^ENDPOINT\s+STATUS\s+CLUSTER$`,
			`(?m)^` + regexp.QuoteMeta(s.catalogue.PodIP) + `:8080\s+HEALTHY\s+outbound\|80\|\|catalogue\.sock-shop\.svc\.cluster\.local$`},
	}
	for kind, patterns := range tables {
		out, err := pilotlightCLI(t, s.Mesh, "proxy-config", kind, pod)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(out) {
				t.Errorf("proxy-config %s %s: no line matching %s in:\n%s", kind, pod, p, out)
			}
		}
	}

	var one []map[string]any
	if err := cliJSON(t, s.Mesh, &one, "proxy-config", "endpoint", "sleep", "-n", ns, "--name", catalogueCluster); err != nil {
		t.Fatal(err)
	}
	if got := names(one); !slices.Equal(got, []string{catalogueCluster}) {
		t.Errorf("--name %s: got %q", catalogueCluster, got)
	}
}

// catalogueTimeout gives catalogue's route a timeout; the timeout is on
// line 10 of the file.
const catalogueTimeout = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: catalogue
  namespace: sock-shop
spec:
  hosts:
  - catalogue
  http:
  - timeout: 3s
    route:
    - destination:
        host: catalogue
`

// TestExplain: `pilotlight explain` against a running serve says where
// each field of a proxy's route comes from, with the file and line.
func TestExplain(t *testing.T) {
	s := startSockShop(t, map[string]string{"catalogue-timeout.yaml": catalogueTimeout})
	if err := s.WaitSettled(converge); err != nil {
		t.Fatal(err)
	}
	out, err := pilotlightCLI(t, s.Mesh, "explain", "sleep.sock-shop", "--resource", "http_proxy")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"route http_proxy\n",
		"virtual_hosts[catalogue.sock-shop.svc.cluster.local:80].routes[0].route.timeout: 3s ← VirtualService sock-shop/catalogue spec.http[0].timeout (catalogue-timeout.yaml:10)\n",
		"virtual_hosts[catalogue.sock-shop.svc.cluster.local:80].routes[0].route.cluster: outbound|80||catalogue.sock-shop.svc.cluster.local ← VirtualService sock-shop/catalogue spec.http[0].route[0].destination (catalogue-timeout.yaml:12)\n",
		"virtual_hosts[front-end.sock-shop.svc.cluster.local:80].routes[0].route.cluster: outbound|80||front-end.sock-shop.svc.cluster.local ← Service sock-shop/front-end spec.ports[0] (services.yaml:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain has no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cluster outbound") {
		t.Errorf("--resource http_proxy printed other resources:\n%s", out)
	}
	var e struct {
		Resources []struct{ Type, Name string }
	}
	if err := cliJSON(t, s.Mesh, &e, "explain", "catalogue-v1", "-n", ns); err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, r := range e.Resources {
		types[r.Type] = true
	}
	if !types["listener"] || !types["route"] || !types["cluster"] || !types["endpoint"] {
		t.Errorf("explain -o json of catalogue-v1: resource types %v", types)
	}
}

// names lists the name (or cluster_name) of Envoy JSON resources.
func names(resources []map[string]any) []string {
	var out []string
	for _, r := range resources {
		n, _ := r["name"].(string)
		if cn, ok := r["clusterName"].(string); ok {
			n = cn
		}
		if cn, ok := r["cluster_name"].(string); ok {
			n = cn
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
