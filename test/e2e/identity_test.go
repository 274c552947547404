package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// TestUnprovenStreamsGetNothing runs the real pilotlight with a sidecar
// mesh and an HTTPS gateway, and sends it what an attacker on the xDS port
// could: plaintext, no token, a malformed or expired token, a sidecar's
// real token with another pod's or the gateway's node id, and that token
// asking for the gateway's certificate. None of them gets a resource; the
// real proxies keep their config and traffic keeps flowing.
func TestUnprovenStreamsGetNothing(t *testing.T) {
	cert := harness.SelfSignedCert(t, shopHost)
	s := harness.NewMesh(t, ns)
	s.AddService("front-end", 80, 8080)
	frontEnd := s.AddPod("front-end-v1", map[string]string{"app": "front-end", "version": "v1"})
	sleep := s.AddClient("sleep")
	gw := harness.AddGateway(s, "ingressgateway", map[string]string{"app": "ingressgateway", "istio": "ingressgateway"}, gwHTTPPort, gwHTTPSPort)
	s.WriteFile("gateway.yaml", shopGatewayHTTPS("shop-cert"))
	s.WriteFile("secret.yaml", cert.SecretYAML("shop-cert", ns))
	s.WriteFile("vs.yaml", shopAllTo("v1"))
	s.WriteFile("rule.yaml", destinationRuleFrontEnd)
	s.Start()
	gw.Start()
	conn := harness.XDSConn(t, s.XDSAddr, s.StateDir)
	sleepToken := s.PodToken(ns, "sleep")
	expired := mintAt(t, s.StateDir, time.Now().Add(-48*time.Hour), ns, "sleep")
	gatewayCert := "kubernetes://shop-cert"

	for _, tc := range []struct {
		name, token, node string
		code              codes.Code
		message           string
	}{
		{"no token", "", sleep.NodeID(), codes.Unauthenticated, "no credentials"},
		{"malformed token", "not-a-token", sleep.NodeID(), codes.Unauthenticated, "token rejected"},
		{"expired token", expired, sleep.NodeID(), codes.Unauthenticated, "expired"},
		{"sleep's token, front-end's node id", sleepToken, frontEnd.NodeID(), codes.PermissionDenied, "the token is for pod sock-shop/sleep"},
		{"sleep's token, the gateway's node id", sleepToken, gw.NodeID(), codes.PermissionDenied, "the node id claims pod sock-shop/ingressgateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := harness.OpenXDSStream(t, conn, tc.token, tc.node)
			// A stream refused at open fails this send with EOF; its status
			// comes with the receive.
			_ = c.Subscribe(resourcev3.SecretType, gatewayCert)
			resp, err := c.Recv()
			if err == nil {
				t.Fatalf("got a response with %d resources, want the stream refused", len(resp.GetResources()))
			}
			if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.message) {
				t.Errorf("status %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.message)
			}
		})
	}

	t.Run("plaintext", func(t *testing.T) {
		plain, err := grpc.NewClient("passthrough:///"+s.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		// The stream fails to open, or at the latest when it is read.
		ctx := xdstest.WithToken(context.Background(), sleepToken)
		c, err := xdstest.Open(ctx, plain, sleep.NodeID())
		if err == nil {
			_ = c.Subscribe(resourcev3.SecretType, gatewayCert)
			var resp *discoverypb.DiscoveryResponse
			if resp, err = c.Recv(); err == nil {
				t.Fatalf("a plaintext stream got %d resources", len(resp.GetResources()))
			}
		}
		if st := status.Convert(err); st.Code() != codes.Unavailable {
			t.Errorf("plaintext: %v, want Unavailable (no TLS handshake)", err)
		}
	})

	// sleep's own token, as sleep and as a "router" (gateway) on sleep's
	// pod, which no Gateway selects: it may ask, and gets no credential.
	t.Run("sleep asks for the gateway's certificate", func(t *testing.T) {
		for _, node := range []string{sleep.NodeID(), strings.Replace(sleep.NodeID(), "sidecar~", "router~", 1)} {
			c := harness.OpenXDSStream(t, conn, sleepToken, node)
			got := askSecrets(t, c, gatewayCert, gatewayCert+"-cacert")
			if len(got) != 0 {
				t.Errorf("node %s got %d secrets it does not own", node, len(got))
			}
			c.Close()
		}
	})

	t.Run("sleep gets its own identity", func(t *testing.T) {
		c := harness.OpenXDSStream(t, conn, sleepToken, sleep.NodeID())
		got := askSecrets(t, c, "default")
		if len(got) != 1 {
			t.Fatalf("got %d secrets, want default", len(got))
		}
		block, _ := pem.Decode(got[0].GetTlsCertificate().GetCertificateChain().GetInlineBytes())
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if want := "spiffe://cluster.local/ns/sock-shop/sa/default"; len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
			t.Errorf("certificate for %v, want %s", leaf.URIs, want)
		}
		c.Close()
	})

	// The real proxies were not disturbed.
	if _, err := harness.WaitForRoute(sleep.Client(), "http://front-end.sock-shop/", nil, converge, servedByVersion("v1")); err != nil {
		t.Errorf("sleep -> front-end after the attempts: %v", err)
	}
	if _, err := harness.WaitForRoute(gw.Client(cert.ClientConfig(shopHost)), shopHTTPSURL, nil, converge, servedByVersion("v1")); err != nil {
		t.Errorf("HTTPS through the gateway after the attempts: %v", err)
	}
	ps, err := s.Proxies()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if strings.HasPrefix(p.ID, "router~") && !strings.Contains(p.ID, "~ingressgateway.") {
			t.Errorf("/debug/proxies lists %s: an impostor's state was kept", p.ID)
		}
	}
}

// askSecrets subscribes to SDS names and returns the secrets of the
// answer (a proven stream is answered, possibly with none).
func askSecrets(t *testing.T, c *xdstest.Client, names ...string) []*tlsv3.Secret {
	t.Helper()
	if err := c.Subscribe(resourcev3.SecretType, names...); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Recv()
	if err != nil {
		t.Fatalf("a proven stream was refused: %v", err)
	}
	// ACK, as Envoy would: the node's sync state stays settled.
	if err := c.Ack(resp, names...); err != nil {
		t.Fatal(err)
	}
	return decodeSecrets(t, resp)
}

func decodeSecrets(t *testing.T, resp *discoverypb.DiscoveryResponse) []*tlsv3.Secret {
	t.Helper()
	var out []*tlsv3.Secret
	for _, a := range resp.GetResources() {
		s := &tlsv3.Secret{}
		if err := a.UnmarshalTo(s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// mintAt mints a folder token as `pilotlight bootstrap` would have at
// time at (valid 24h from then).
func mintAt(t *testing.T, stateDir string, at time.Time, namespace, pod string) string {
	t.Helper()
	signer, err := authn.LoadTokenSigner(stateDir, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	token, err := signer.Mint(namespace, pod, authn.DefaultTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	return token
}
