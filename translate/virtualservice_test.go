package translate

import (
	"os"
	"path/filepath"
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
)

// sourceMesh: reviews in bookinfo, and pods in bookinfo and in shop. Each
// namespace has a VirtualService for reviews that only it sees (exportTo
// "."): bookinfo's sends pods labelled app: productpage to v2, shop's sends
// pods labelled team: canary to v2.
const sourceMesh = `
apiVersion: v1
kind: Namespace
metadata: {name: bookinfo}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  exportTo: ["."]
  http:
  - match: [{sourceLabels: {app: productpage}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  exportTo: ["."]
  http:
  - match: [{sourceLabels: {team: canary}}]
    route: [{destination: {host: reviews.bookinfo.svc.cluster.local, subset: v2}}]
  - route: [{destination: {host: reviews.bookinfo.svc.cluster.local, subset: v1}}]
`

func sourcePod(name, ns string, ip string, labels string) string {
	return `
---
apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: ` + ns + `
  labels: ` + labels + `
status:
  phase: Running
  podIP: ` + ip + `
  conditions: [{type: Ready, status: "True"}]
`
}

func loadSourceMesh(t *testing.T) *Mesh {
	t.Helper()
	config := sourceMesh +
		sourcePod("productpage-1", "bookinfo", "127.10.1.1", "{app: productpage, version: v1}") +
		sourcePod("productpage-2", "bookinfo", "127.10.1.2", "{app: productpage, version: v2}") +
		sourcePod("ratings-1", "bookinfo", "127.10.1.3", "{app: ratings}") +
		sourcePod("details-1", "bookinfo", "127.10.1.4", "{app: details}") +
		sourcePod("cart-1", "shop", "127.10.1.5", "{app: cart, team: canary}") +
		sourcePod("cart-2", "shop", "127.10.1.6", "{app: cart, team: canary}") +
		sourcePod("orders-1", "shop", "127.10.1.7", "{app: orders}")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := folder.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Problems) > 0 {
		t.Fatalf("problems: %v", snap.Problems)
	}
	return NewMesh(snap)
}

// TestSourceLabelsRouteTables: sourceLabels make route tables depend on the
// proxy, yet proxies that meet the same selectors in the same namespace
// share one table (one pointer, marshaled once), and each table routes as
// its proxies' labels say. In shop, the VirtualService that decides is
// shop's own, which the mesh-wide index (first by namespace/name: bookinfo's)
// does not hold: its selector must still split the tables.
func TestSourceLabelsRouteTables(t *testing.T) {
	m := loadSourceMesh(t)
	table := func(ns, pod string) *route.RouteConfiguration {
		t.Helper()
		p := m.snap.Pod(ns, pod)
		if p == nil {
			t.Fatalf("no pod %s/%s", ns, pod)
		}
		res := m.ForProxy(Proxy{Type: Sidecar, IP: p.IP, PodName: p.Name, Namespace: p.Namespace})
		if len(res.Routes) != 1 {
			t.Fatalf("%s/%s: %d route tables", ns, pod, len(res.Routes))
		}
		return res.Routes[0]
	}
	v1 := OutboundClusterName(9080, "v1", "reviews.bookinfo.svc.cluster.local")
	v2 := OutboundClusterName(9080, "v2", "reviews.bookinfo.svc.cluster.local")
	for _, tc := range []struct {
		ns, pod, shares, first string
	}{
		{"bookinfo", "productpage-1", "", v2},
		{"bookinfo", "productpage-2", "productpage-1", v2}, // version differs; the selector does not look at it
		{"bookinfo", "ratings-1", "", v1},
		{"bookinfo", "details-1", "ratings-1", v1},
		{"shop", "cart-1", "", v2},
		{"shop", "cart-2", "cart-1", v2},
		{"shop", "orders-1", "", v1},
	} {
		rc := table(tc.ns, tc.pod)
		if got := firstReviewsCluster(rc); got != tc.first {
			t.Errorf("%s/%s: reviews goes first to %q, want %q", tc.ns, tc.pod, got, tc.first)
		}
		if tc.shares != "" && table(tc.ns, tc.shares) != rc {
			t.Errorf("%s/%s and %s/%s meet the same selectors but got two route tables", tc.ns, tc.pod, tc.ns, tc.shares)
		}
	}
	if table("bookinfo", "productpage-1") == table("bookinfo", "ratings-1") {
		t.Errorf("productpage and ratings share a route table, but only productpage meets sourceLabels")
	}
	if table("shop", "cart-1") == table("shop", "orders-1") {
		t.Errorf("cart and orders share a route table, but only cart meets shop's sourceLabels")
	}
}

// firstReviewsCluster is the cluster of the first route of reviews' virtual host.
func firstReviewsCluster(rc *route.RouteConfiguration) string {
	for _, vh := range rc.GetVirtualHosts() {
		if vh.GetName() == "reviews.bookinfo.svc.cluster.local:9080" && len(vh.GetRoutes()) > 0 {
			return vh.GetRoutes()[0].GetRoute().GetCluster()
		}
	}
	return ""
}

// TestHTTPRoutesMatchBlocks pins the order and fan-out of rules and match
// blocks: one Envoy route per block that applies, in rule order, with the
// rule's (and block's) name, up to the first catch-all (for productpage the
// sourceLabels rule matches every request, so the default rule after it is
// unreachable and left out).
func TestHTTPRoutesMatchBlocks(t *testing.T) {
	m := loadSourceMesh(t)
	var vs *discovery.VirtualService
	for _, v := range m.snap.VirtualServices {
		if v.Namespace == "bookinfo" {
			vs = v
		}
	}
	for _, tc := range []struct {
		labels map[string]string
		want   []string
	}{
		{map[string]string{"app": "productpage"}, []string{"reviews.bookinfo.0"}},
		{map[string]string{"app": "ratings"}, []string{"reviews.bookinfo.1"}},
		{nil, []string{"reviews.bookinfo.1"}},
	} {
		src := routeSource{namespace: "bookinfo", labels: tc.labels, gateways: []string{meshGateway}}
		var got []string
		for _, r := range httpRoutes(m.snap, vs, 9080, src) {
			got = append(got, r.GetName())
		}
		if len(got) != len(tc.want) {
			t.Errorf("labels %v: routes %v, want %v", tc.labels, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("labels %v: routes %v, want %v", tc.labels, got, tc.want)
				break
			}
		}
	}
}
