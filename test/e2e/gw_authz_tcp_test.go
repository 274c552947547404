package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// gatewayClientsPolicy lets only clients in cidr connect to the gateway
// that edgeGateway configures (an ALLOW policy on its pod, by ipBlocks).
func gatewayClientsPolicy(cidr string) string {
	return fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: edge-clients
  namespace: sock-shop
spec:
  selector:
    matchLabels: {istio: ingressgateway}
  action: ALLOW
  rules:
  - from:
    - source:
        ipBlocks: [%q]
`, cidr)
}

// TestGatewayAuthorizationTCP: an AuthorizationPolicy on a gateway pod
// applies to its TCP and TLS passthrough servers as network RBAC. A policy
// that allows only other clients closes the test's connections (it
// connects from 127.0.0.1) on both; one that allows loopback lets them
// through again.
func TestGatewayAuthorizationTCP(t *testing.T) {
	s := newStreamShop(t, map[string]string{"edge.yaml": edgeGateway})
	gw := harness.AddGateway(s.Mesh, "ingressgateway", map[string]string{"istio": "ingressgateway"}, 8443, tcpEchoPort)
	s.start(t)
	gw.Start()
	sni := "v1.tls.example.com"
	tlsConfig := s.appCert.ClientConfig(sni)
	if _, err := harness.WaitForStream(gw.Addr(tcpEchoPort), nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForStream(gw.Addr(8443), tlsConfig, converge, nil); err != nil {
		t.Fatal(err)
	}

	s.WriteFile("edge-clients.yaml", gatewayClientsPolicy("192.0.2.0/24"))
	err := harness.Eventually(converge, 100*time.Millisecond, func() error {
		if h, err := harness.DialStream(gw.Addr(tcpEchoPort), nil); err == nil {
			return fmt.Errorf("TCP port: reached %+v while only 192.0.2.0/24 may connect", *h)
		}
		if h, err := harness.DialStream(gw.Addr(8443), tlsConfig); err == nil {
			return fmt.Errorf("TLS passthrough: reached %+v while only 192.0.2.0/24 may connect", *h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Closed every time now, not only once.
	for i := 0; i < 5; i++ {
		if h, err := harness.DialStream(gw.Addr(tcpEchoPort), nil); err == nil {
			t.Fatalf("TCP port: connection %d reached %+v", i, *h)
		}
	}

	s.WriteFile("edge-clients.yaml", gatewayClientsPolicy("127.0.0.0/8"))
	if _, err := harness.WaitForStream(gw.Addr(tcpEchoPort), nil, converge, nil); err != nil {
		t.Fatalf("TCP port once loopback may connect: %v", err)
	}
	if _, err := harness.WaitForStream(gw.Addr(8443), tlsConfig, converge, nil); err != nil {
		t.Fatalf("TLS passthrough once loopback may connect: %v", err)
	}
}
