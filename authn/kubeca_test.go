package authn

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestClusterCA(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	ca, where, err := LoadOrCreateClusterCA(ctx, client, "pilotlight-system", DefaultTrustDomain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if where != "pilotlight-system/pilotlight-ca" {
		t.Errorf("CA from %s", where)
	}
	s, err := client.CoreV1().Secrets("pilotlight-system").Get(ctx, CASecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data[RootCertFile]) != string(ca.RootsPEM()) || len(s.Data[CAKeyFile]) == 0 {
		t.Error("the Secret does not hold the CA that is used")
	}
	// A second replica reads the same CA.
	again, _, err := LoadOrCreateClusterCA(ctx, client, "pilotlight-system", DefaultTrustDomain, nil)
	if err != nil || string(again.RootsPEM()) != string(ca.RootsPEM()) {
		t.Fatalf("second replica: %v, same root %v", err, err == nil && string(again.RootsPEM()) == string(ca.RootsPEM()))
	}
}

// Two replicas start at once: the one whose create loses reads the winner's.
func TestClusterCARace(t *testing.T) {
	ctx := context.Background()
	winner, err := NewSelfSignedFiles(DefaultTrustDomain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset()
	client.PrependReactor("create", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// The other replica's Secret lands just before ours.
		_ = client.Tracker().Add(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: CASecretName, Namespace: "pilotlight-system"},
			Data:       map[string][]byte{CACertFile: winner.CACert, CAKeyFile: winner.CAKey, RootCertFile: winner.RootCert},
		})
		return true, nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, CASecretName)
	})
	ca, _, err := LoadOrCreateClusterCA(ctx, client, "pilotlight-system", DefaultTrustDomain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(ca.RootsPEM()) != string(winner.RootCert) {
		t.Error("the losing replica did not take the winner's CA")
	}
}

func TestClusterCAPluggedIn(t *testing.T) {
	f := pluggedIn(t)
	client := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: PluggedCASecretName, Namespace: "istio-system"},
		Data:       map[string][]byte{CACertFile: f.CACert, CAKeyFile: f.CAKey, RootCertFile: f.RootCert, CertChainFile: f.CertChain},
	})
	ca, where, err := LoadOrCreateClusterCA(context.Background(), client, "istio-system", "example.org", func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	if where != "istio-system/cacerts" || string(ca.RootsPEM()) != string(f.RootCert) {
		t.Errorf("CA from %s; want the plugged-in cacerts", where)
	}
	if _, err := client.CoreV1().Secrets("istio-system").Get(context.Background(), CASecretName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a self-signed CA was created beside cacerts: %v", err)
	}
}

func TestRootPublisher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gone"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	)
	roots := []byte("-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n")
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewRootPublisher(client, roots, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(ctx)
	}()

	waitRoot := func(ns string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, RootConfigMapName, metav1.GetOptions{})
			if err == nil && cm.Data[RootConfigMapKey] == string(roots) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("namespace %s: no %s with the root (%v)", ns, RootConfigMapName, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitRoot("shop")
	// A namespace created later gets it; an edited one is put back.
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoot("later")
	edited := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RootConfigMapName, Namespace: "shop"}, Data: map[string]string{RootConfigMapKey: "tampered"}}
	if _, err := client.CoreV1().ConfigMaps("shop").Update(ctx, edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoot("shop")
	if _, err := client.CoreV1().ConfigMaps("gone").Get(ctx, RootConfigMapName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a terminating namespace got a ConfigMap: %v", err)
	}
	cancel()
	<-done
}
