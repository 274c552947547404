package authn

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func fixedClock(t *time.Time) func() time.Time { return func() time.Time { return *t } }

func newTestCA(t testing.TB) *CA {
	t.Helper()
	f, err := NewSelfSignedFiles(DefaultTrustDomain, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	ca, err := NewCA(f, DefaultTrustDomain, fixedClock(&now))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// verifyLeaf checks a chain against the CA's roots as a TLS peer would.
func verifyLeaf(t *testing.T, ca *CA, c *Certificate, at time.Time, usage x509.ExtKeyUsage) {
	t.Helper()
	certs, err := parseCertificates(c.ChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: ca.Roots(), Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Fatalf("chain does not verify: %v", err)
	}
	if _, err := c.TLS(); err != nil {
		t.Fatalf("key and chain are not a TLS key pair: %v", err)
	}
}

func TestIssueWorkload(t *testing.T) {
	ca := newTestCA(t)
	c, err := ca.IssueWorkload(Identity{Namespace: "sock-shop", ServiceAccount: "front-end"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Leaf.URIs; len(got) != 1 || got[0].String() != "spiffe://cluster.local/ns/sock-shop/sa/front-end" {
		t.Errorf("URI SANs %v, want only spiffe://cluster.local/ns/sock-shop/sa/front-end", got)
	}
	if len(c.Leaf.DNSNames)+len(c.Leaf.IPAddresses)+len(c.Leaf.EmailAddresses) != 0 || c.Leaf.Subject.CommonName != "" {
		t.Errorf("a workload certificate names only its SPIFFE ID, got %v %v %q", c.Leaf.DNSNames, c.Leaf.IPAddresses, c.Leaf.Subject.CommonName)
	}
	if c.Leaf.IsCA {
		t.Error("a workload certificate must not be a CA")
	}
	verifyLeaf(t, ca, c, t0.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	verifyLeaf(t, ca, c, t0.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	if got := c.Leaf.NotAfter.Sub(t0); got != 24*time.Hour {
		t.Errorf("lifetime from issuance %v, want 24h", got)
	}
	if got := c.RenewAt().Sub(t0); got != 12*time.Hour {
		t.Errorf("renew %v after issuance, want half-life 12h", got)
	}
	if !c.Leaf.NotBefore.Before(t0) {
		t.Errorf("NotBefore %v: want backdated before %v for clock skew", c.Leaf.NotBefore, t0)
	}
	other, err := ca.IssueWorkload(Identity{Namespace: "sock-shop", ServiceAccount: "front-end"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if other.Serial() == c.Serial() || string(other.KeyPEM) == string(c.KeyPEM) {
		t.Error("two issuances share a serial or a key")
	}
}

func TestIssueWorkloadRejects(t *testing.T) {
	ca := newTestCA(t)
	for name, tc := range map[string]struct {
		id  Identity
		ttl time.Duration
	}{
		"no namespace":       {Identity{ServiceAccount: "a"}, time.Hour},
		"no service account": {Identity{Namespace: "a"}, time.Hour},
		"zero ttl":           {Identity{Namespace: "a", ServiceAccount: "b"}, 0},
	} {
		if _, err := ca.IssueWorkload(tc.id, tc.ttl); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

func TestIssueCappedAtCAExpiry(t *testing.T) {
	ca := newTestCA(t)
	c, err := ca.IssueWorkload(Identity{Namespace: "a", ServiceAccount: "b"}, 2*RootTTL)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", c.Leaf.NotAfter, ca.cert.NotAfter)
	}
}

func TestIssueServer(t *testing.T) {
	ca := newTestCA(t)
	c, err := ca.IssueServer([]string{"pilotlight.pilotlight-system.svc"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	verifyLeaf(t, ca, c, t0, x509.ExtKeyUsageServerAuth)
	if err := c.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if err := c.Leaf.VerifyHostname("pilotlight.pilotlight-system.svc"); err != nil {
		t.Error(err)
	}
	if err := c.Leaf.VerifyHostname("other.example"); err == nil {
		t.Error("server certificate matches a name it was not issued for")
	}
}

// pluggedIn builds an Istio cacerts layout: a root, and an intermediate
// that signs workloads.
func pluggedIn(t *testing.T) Files {
	t.Helper()
	root, err := NewSelfSignedFiles("example.org", t0)
	if err != nil {
		t.Fatal(err)
	}
	rootCA, err := NewCA(root, "example.org", func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	inter, err := rootCA.issue(365*24*time.Hour, func(c *x509.Certificate) {
		c.IsCA = true
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		c.Subject = pkix.Name{CommonName: "intermediate"}
	})
	if err != nil {
		t.Fatal(err)
	}
	interPEM := inter.ChainPEM[:len(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Leaf.Raw}))]
	return Files{CACert: interPEM, CAKey: inter.KeyPEM, RootCert: root.RootCert, CertChain: append(append([]byte{}, interPEM...), root.RootCert...)}
}

func TestPluggedInIntermediate(t *testing.T) {
	f := pluggedIn(t)
	ca, err := NewCA(f, "example.org", func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.IssueWorkload(Identity{Namespace: "ns", ServiceAccount: "sa"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Leaf.URIs[0].String(); got != "spiffe://example.org/ns/ns/sa/sa" {
		t.Errorf("SAN %s: want the CA's trust domain", got)
	}
	if n := strings.Count(string(c.ChainPEM), "BEGIN CERTIFICATE"); n != 3 {
		t.Errorf("chain has %d certificates, want leaf + intermediate + root (cert-chain.pem)", n)
	}
	verifyLeaf(t, ca, c, t0, x509.ExtKeyUsageClientAuth)
	if string(ca.RootsPEM()) != string(f.RootCert) {
		t.Error("ROOTCA is not root-cert.pem")
	}
}

func TestNewCARejects(t *testing.T) {
	good, err := NewSelfSignedFiles(DefaultTrustDomain, t0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSelfSignedFiles(DefaultTrustDomain, t0)
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	leaf, err := ca.IssueWorkload(Identity{Namespace: "a", ServiceAccount: "b"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	plugged := pluggedIn(t)
	for name, tc := range map[string]struct {
		f    Files
		at   time.Time
		want string
	}{
		"key of another CA":    {Files{CACert: good.CACert, CAKey: other.CAKey, RootCert: good.RootCert}, t0, "does not hold the key"},
		"not a CA certificate": {Files{CACert: leaf.ChainPEM[:strings.Index(string(leaf.ChainPEM), "-----END CERTIFICATE-----")+26], CAKey: leaf.KeyPEM, RootCert: good.RootCert}, t0, "not a CA"},
		"expired":              {good, t0.Add(RootTTL + time.Hour), "not now"},
		"another root":         {Files{CACert: plugged.CACert, CAKey: plugged.CAKey, RootCert: good.RootCert}, t0, "does not chain up"},
		"no root":              {Files{CACert: good.CACert, CAKey: good.CAKey}, t0, "no root"},
		"garbage key":          {Files{CACert: good.CACert, CAKey: []byte("nope"), RootCert: good.RootCert}, t0, "ca-key.pem"},
	} {
		at := tc.at
		_, err := NewCA(tc.f, DefaultTrustDomain, func() time.Time { return at })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestStateCA(t *testing.T) {
	dir := t.TempDir() + "/state"
	var wg sync.WaitGroup
	cas := make([]*CA, 4)
	errs := make([]error, 4)
	for i := range cas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cas[i], errs[i] = LoadOrCreateStateCA(dir, DefaultTrustDomain, nil)
		}()
	}
	wg.Wait()
	for i := range cas {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if string(cas[i].RootsPEM()) != string(cas[0].RootsPEM()) {
			t.Fatal("processes racing to create the CA ended up with different roots")
		}
	}
	again, err := LoadOrCreateStateCA(dir, DefaultTrustDomain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.RootsPEM()) != string(cas[0].RootsPEM()) {
		t.Error("a restart made a new root")
	}
	path, err := PublishRoot(dir, again)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, dir+"/ca", 0o700)
	assertMode(t, dir+"/ca/"+CAKeyFile, 0o600)
	assertMode(t, path, 0o644)
}

func BenchmarkIssueWorkload(b *testing.B) {
	ca := newTestCA(b)
	id := Identity{Namespace: "sock-shop", ServiceAccount: "front-end"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.IssueWorkload(id, 24*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
}
