package e2e

import (
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestGatewayServerPortThroughTheServiceTargetPort: a tutorial's Gateway
// serves port 80, and the ingress gateway's Service maps port 80 to
// container port 8080 (as Istio's installs it). As in Istio, the gateway
// Envoy listens on 8080 (no root needed) and serves the Gateway's routes
// there; nothing listens on 80.
func TestGatewayServerPortThroughTheServiceTargetPort(t *testing.T) {
	m := harness.NewMesh(t, ns)
	m.AddService("front-end", 80, 8080)
	m.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	labels := map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}
	gw := harness.AddGateway(m, "ingressgateway", labels, gwHTTPPort)
	m.WriteFile("gateway-service.yaml", `apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: sock-shop}
spec:
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports:
  - {name: http2, port: 80, targetPort: 8080}
`)
	m.WriteFile("gateway.yaml", shopGateway(`  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [shop.example.com]
`)+"---\n"+shopVS(`  - route:
    - destination: {host: front-end}
`))
	m.Start()
	gw.Start()
	a, err := harness.WaitForRoute(gw.Client(nil), shopURL, nil, converge, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Echo.Pod != "front-end-v1" {
		t.Errorf("through the gateway: %v", a)
	}
	dump, err := harness.EnvoyConfigDump(gw.Admin())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dump), `"name": "`+gw.PodIP+`_8080"`) || strings.Contains(string(dump), `"name": "`+gw.PodIP+`_80"`) {
		t.Errorf("the gateway's listeners are not on %s:8080 alone", gw.PodIP)
	}
}
