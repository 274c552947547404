package e2e

import (
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// edgeGateway passes TLS on 8443 through by SNI (tls routes) and forwards
// TCP on 9000 (tcp route), for the stream apps of streamShop.
const edgeGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: sock-shop
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 8443, name: tls, protocol: TLS}
    hosts: ["*.tls.example.com"]
    tls: {mode: PASSTHROUGH}
  - port: {number: 9000, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: edge-tls
  namespace: sock-shop
spec:
  hosts: ["*.tls.example.com"]
  gateways: [edge]
  tls:
  - match:
    - sniHosts: [v1.tls.example.com]
    route:
    - destination: {host: tls-echo, subset: v1}
  - match:
    - sniHosts: [v2.tls.example.com]
    route:
    - destination: {host: tls-echo, subset: v2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: edge-tcp
  namespace: sock-shop
spec:
  hosts: [tcp.example.com]
  gateways: [sock-shop/edge]
  tcp:
  - match:
    - port: 9000
    route:
    - destination: {host: tcp-echo, subset: v2}
`

// TestGatewayTLSPassthroughAndTCP: the gateway routes TLS by SNI to the
// subset its tls route names, without terminating it (the client verifies
// the app's certificate, the app sees the SNI), and forwards a TCP port.
func TestGatewayTLSPassthroughAndTCP(t *testing.T) {
	s := newStreamShop(t, map[string]string{"edge.yaml": edgeGateway})
	gw := harness.AddGateway(s.Mesh, "ingressgateway", map[string]string{"istio": "ingressgateway"}, 8443, tcpEchoPort)
	s.start(t)
	gw.Start()

	t.Run("tls passthrough by SNI", func(t *testing.T) {
		for _, v := range []string{"v1", "v2"} {
			sni := v + ".tls.example.com"
			if _, err := harness.WaitForStream(gw.Addr(8443), s.appCert.ClientConfig(sni), converge, nil); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				h, err := harness.DialStream(gw.Addr(8443), s.appCert.ClientConfig(sni))
				if err != nil {
					t.Fatal(err)
				}
				if h.Version != v || h.Service != "tls-echo" || h.SNI != sni {
					t.Fatalf("SNI %s reached %+v, want tls-echo %s seeing that SNI", sni, *h, v)
				}
			}
		}
		if h, err := harness.DialStream(gw.Addr(8443), s.appCert.ClientConfig(tlsEchoFQDN)); err == nil {
			t.Errorf("SNI %s (outside the server's hosts) reached %+v", tlsEchoFQDN, *h)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		h, err := harness.WaitForStream(gw.Addr(tcpEchoPort), nil, converge, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h.Service != "tcp-echo" || h.Version != "v2" {
			t.Errorf("the gateway's TCP port reached %+v, want tcp-echo v2", *h)
		}
	})
}
