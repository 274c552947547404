package e2e

import (
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestDestinationWithoutPortOnSeveralPorts: a VirtualService for a Service
// with two HTTP ports (80 and 8081) routes to subset v2 without naming a
// port. As in Istio, each port's traffic goes to the same port of the
// destination: web:80 reaches v2's 8080, web:8081 reaches v2's 9081.
func TestDestinationWithoutPortOnSeveralPorts(t *testing.T) {
	m := harness.NewMesh(t, ns)
	web := m.AddService("web", 80, 8080)
	web.Ports = append(web.Ports, harness.ServicePort{Name: "http-admin", Port: 8081, TargetPort: 9081})
	for _, v := range []string{"v1", "v2"} {
		p := m.AddPod("web-"+v, map[string]string{"app": "web", "version": v})
		p.Ports = append(p.Ports, harness.ContainerPort{Name: "admin", Port: 9081})
	}
	client := m.AddClient("sleep")
	m.WriteFile("web-rules.yaml", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: sock-shop}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: sock-shop}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web, subset: v2}
`)
	m.Start()
	c := client.Client()
	for _, url := range []string{"http://web.sock-shop/", "http://web.sock-shop:8081/"} {
		if _, err := harness.WaitForRoute(c, url, nil, converge, servedByVersion("v2")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if a := getOK(t, c, url, ""); a.Echo.Pod != "web-v2" {
				t.Fatalf("%s: request %d reached %s, want web-v2", url, i, a.Echo.Pod)
			}
		}
	}
	v2 := m.Pod("web-v2")
	waitStat(t, client.Admin(), "cluster.outbound|8081|v2|web.sock-shop.svc.cluster.local.upstream_rq_total", 20)
	waitStat(t, client.Admin(), "cluster.outbound|80|v2|web.sock-shop.svc.cluster.local.upstream_rq_total", 20)
	waitStat(t, v2.Admin(), "cluster.inbound|9081||.upstream_rq_total", 20)
	waitStat(t, v2.Admin(), "cluster.inbound|8080||.upstream_rq_total", 20)
	if raw, _, err := m.Problems(); err != nil || string(raw) != "[]\n" {
		t.Errorf("/debug/problems (%v): %s", err, raw)
	}
}
