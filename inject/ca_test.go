package inject

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

// TestCASharedByReplicas: the second replica reads the CA the first
// created, and a serving certificate verifies against it for the
// Service's name and for an extra IP.
func TestCASharedByReplicas(t *testing.T) {
	kc := kubefake.NewSimpleClientset()
	ctx := context.Background()
	first, err := LoadOrCreateCA(ctx, kc, "pilotlight-system")
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreateCA(ctx, kc, "pilotlight-system")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.CertPEM, second.CertPEM) {
		t.Fatal("two replicas have different CAs")
	}
	hosts := append(ServiceHosts("pilotlight", "pilotlight-system"), "127.0.0.1")
	certs, err := NewServingCerts(second, hosts)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := certs.GetCertificate(nil)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(first.CertPEM)
	for _, name := range []string{"pilotlight.pilotlight-system.svc", "127.0.0.1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Past half of its life, a new certificate is issued.
	certs.now = func() time.Time { return time.Now().Add(certLifetime/2 + time.Hour) }
	if again, _ := certs.GetCertificate(nil); again == cert {
		t.Error("certificate not renewed after half of its life")
	}
}

func TestCASecretMismatch(t *testing.T) {
	kc := kubefake.NewSimpleClientset()
	ctx := context.Background()
	if _, err := LoadOrCreateCA(ctx, kc, "ns"); err != nil {
		t.Fatal(err)
	}
	other, _ := NewCA(time.Now())
	s, _ := kc.CoreV1().Secrets("ns").Get(ctx, CASecretName, metav1.GetOptions{})
	s.Data[caCertKey] = other.CertPEM
	if _, err := kc.CoreV1().Secrets("ns").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(ctx, kc, "ns"); err == nil {
		t.Error("a CA whose key is not its certificate's was accepted")
	}
}

// TestKeepCABundle: the leader fills in the caBundle of every webhook, and
// puts it back when someone clears it.
func TestKeepCABundle(t *testing.T) {
	kc := kubefake.NewSimpleClientset(&admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "a.pilotlight.io"}, {Name: "b.pilotlight.io"}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca := []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
	go KeepCABundle(ctx, kc, WebhookConfigName, ca, slog.New(slog.NewTextHandler(io.Discard, nil)))
	client := kc.AdmissionregistrationV1().MutatingWebhookConfigurations()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			cfg, err := client.Get(ctx, WebhookConfigName, metav1.GetOptions{})
			if err == nil && !needsCABundle(cfg, ca) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("caBundle not %s", what)
	}
	waitFor("written")
	cfg, _ := client.Get(ctx, WebhookConfigName, metav1.GetOptions{})
	cfg.Webhooks[1].ClientConfig.CABundle = nil
	if _, err := client.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("restored")
}
