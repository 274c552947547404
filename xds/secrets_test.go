package xds

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// testClock is a clock the tests move by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// newCAServer is a test server with a CA whose certificates last ttl, on a
// clock the test moves.
func newCAServer(t testing.TB, snap *discovery.Snapshot, ttl time.Duration) (*testServer, *testClock, *authn.CA) {
	t.Helper()
	clock := &testClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	files, err := authn.NewSelfSignedFiles(authn.DefaultTrustDomain, clock.t)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := authn.NewCA(files, authn.DefaultTrustDomain, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	// The benchmark's clients share one connection: allow them the streams.
	ts := newTestServerWith(t, snap, Limits{MaxStreamsPerConnection: 4096}, func(o *Options) { o.CA, o.WorkloadCertTTL = ca, ttl })
	ts.now = clock.now
	return ts, clock, ca
}

// secrets asks for SDS resources by name and returns what arrived.
func secrets(t testing.TB, c *xdstest.Client, names ...string) (*discoverypb.DiscoveryResponse, map[string]*tlsv3.Secret) {
	t.Helper()
	if err := c.Subscribe(resourcev3.SecretType, names...); err != nil {
		t.Fatal(err)
	}
	resp := recv(t, c)
	return resp, decodeSecrets(t, resp)
}

func decodeSecrets(t testing.TB, resp *discoverypb.DiscoveryResponse) map[string]*tlsv3.Secret {
	t.Helper()
	out := map[string]*tlsv3.Secret{}
	for _, a := range resp.GetResources() {
		s := &tlsv3.Secret{}
		if err := a.UnmarshalTo(s); err != nil {
			t.Fatal(err)
		}
		out[s.GetName()] = s
	}
	return out
}

// leafOf parses the first certificate of a "default" secret.
func leafOf(t testing.TB, s *tlsv3.Secret) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes())
	if block == nil {
		t.Fatal("no certificate in the secret")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestProvenProxyGetsItsOwnIdentity(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts, clock, ca := newCAServer(t, snap, time.Hour)
	pod := snap.Pods[0]
	c := ts.client(t, pod)
	_, got := secrets(t, c, translate.WorkloadCertSecretName, translate.RootCASecretName)
	def, roots := got[translate.WorkloadCertSecretName], got[translate.RootCASecretName]
	if def == nil || roots == nil {
		t.Fatalf("got secrets %v, want default and ROOTCA", got)
	}
	leaf := leafOf(t, def)
	want := authn.SpiffeID(authn.DefaultTrustDomain, pod.Namespace, pod.ServiceAccount)
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
		t.Errorf("certificate names %v, want %s", leaf.URIs, want)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Roots(), CurrentTime: clock.t, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate does not verify against the CA: %v", err)
	}
	if string(roots.GetValidationContext().GetTrustedCa().GetInlineBytes()) != string(ca.RootsPEM()) {
		t.Error("ROOTCA is not the CA's root bundle")
	}
	if def.GetTlsCertificate().GetPrivateKey().GetInlineBytes() == nil {
		t.Error("default has no private key")
	}
}

// A sidecar may name any secret in its request: it gets only its own. The
// gateway of the synthetic mesh has none, so a TLS credential it would
// have is invented here by name.
func TestSidecarGetsNoOtherSecret(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts, _, _ := newCAServer(t, snap, time.Hour)
	c := ts.client(t, snap.Pods[0])
	resp, got := secrets(t, c, translate.SDSSecretName("gateway-cert"), translate.SDSCASecretName(translate.SDSSecretName("gateway-cert")))
	if len(got) != 0 || len(resp.GetResources()) != 0 {
		t.Errorf("a sidecar got secrets it does not own: %v", got)
	}
}

func TestCertificateRenewedAtHalfLife(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts, clock, _ := newCAServer(t, snap, time.Hour)
	c := ts.client(t, snap.Pods[0])
	resp, got := secrets(t, c, translate.WorkloadCertSecretName, translate.RootCASecretName)
	first := leafOf(t, got[translate.WorkloadCertSecretName])
	if err := c.Ack(resp, translate.WorkloadCertSecretName, translate.RootCASecretName); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SDS watch to park", func() bool { return ts.parked(c.NodeID) == 1 })

	clock.t = clock.t.Add(29 * time.Minute)
	ts.renewCertificates()
	if ts.parked(c.NodeID) != 1 {
		t.Fatal("a certificate was pushed before half its life")
	}
	clock.t = clock.t.Add(2 * time.Minute)
	ts.renewCertificates()
	renewal := recv(t, c)
	next := decodeSecrets(t, renewal)
	second := leafOf(t, next[translate.WorkloadCertSecretName])
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("the renewed certificate has the old serial")
	}
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate ends %v, not after the old one's %v", second.NotAfter, first.NotAfter)
	}
	// Secrets are not state of the world: a response need not repeat what
	// the proxy holds, and Envoy keeps the secrets a response leaves out
	// (sotw.go). ROOTCA did not change: only the new certificate goes.
	if _, resent := next[translate.RootCASecretName]; resent || len(next) != 1 {
		t.Errorf("the renewal response carries %d secrets (ROOTCA again: %v), want only the renewed certificate", len(next), resent)
	}
	if err := c.Ack(renewal, translate.WorkloadCertSecretName, translate.RootCASecretName); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SDS watch to park again", func() bool { return ts.parked(c.NodeID) == 1 })
	ts.mu.Lock()
	memoSize := len(ts.memo.done)
	ts.mu.Unlock()
	// The renewed certificate is renewed in its turn, at half its own life.
	clock.t = clock.t.Add(29 * time.Minute)
	ts.renewCertificates()
	if ts.parked(c.NodeID) != 1 {
		t.Fatal("the renewed certificate was renewed before half its life")
	}
	clock.t = clock.t.Add(2 * time.Minute)
	ts.renewCertificates()
	third := leafOf(t, decodeSecrets(t, recv(t, c))[translate.WorkloadCertSecretName])
	if third.SerialNumber.Cmp(second.SerialNumber) == 0 {
		t.Fatal("the second renewal kept the serial of the first")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.memo.done) != memoSize {
		t.Errorf("a renewal grew the snapshot's marshal memo from %d to %d entries", memoSize, len(ts.memo.done))
	}
}

func TestCertificateForgottenWithItsLastStream(t *testing.T) {
	snap := discoverytest.Synthetic(2, 2)
	ts, _, _ := newCAServer(t, snap, time.Hour)
	c := ts.client(t, snap.Pods[0])
	secrets(t, c, translate.WorkloadCertSecretName)
	if ts.secrets.current(c.NodeID) == nil {
		t.Fatal("no certificate held for a connected proxy")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the key to be dropped", func() bool { return ts.secrets.current(c.NodeID) == nil })
}

// BenchmarkCertificateRenewalPush measures the renewal of every
// connected proxy's certificate at once (the worst case: all issued
// together): a new key and certificate for each, and each proxy's new SDS
// response received and ACKed over its ADS stream.
func BenchmarkCertificateRenewalPush(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("proxies=%d", n), func(b *testing.B) {
			snap := discoverytest.SyntheticWithClients(50, 4, n)
			ts, clock, _ := newCAServer(b, snap, time.Hour)
			clients := make([]*xdstest.Client, n)
			for i := range clients {
				c, err := xdstest.Open(podContext(snap.Pods[i]), ts.conn, proxyOf(snap.Pods[i]).NodeID())
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Subscribe(resourcev3.SecretType, translate.WorkloadCertSecretName, translate.RootCASecretName); err != nil {
					b.Fatal(err)
				}
				resp, err := c.Recv()
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Ack(resp, translate.WorkloadCertSecretName, translate.RootCASecretName); err != nil {
					b.Fatal(err)
				}
				clients[i] = c
			}
			b.ResetTimer()
			var server time.Duration
			for i := 0; i < b.N; i++ {
				clock.t = clock.t.Add(31 * time.Minute)
				start := time.Now()
				ts.renewCertificates()
				server += time.Since(start)
				for _, c := range clients {
					resp, err := c.Recv()
					if err != nil {
						b.Fatal(err)
					}
					if err := c.Ack(resp, translate.WorkloadCertSecretName, translate.RootCASecretName); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/renewal-of-all")
			// The control plane's part: new keys and certificates, and every
			// view updated and its response handed to its stream.
			b.ReportMetric(float64(server.Milliseconds())/float64(b.N), "ms/server-side")
		})
	}
}
