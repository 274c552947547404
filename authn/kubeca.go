package authn

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// In a cluster the CA lives where every replica finds it: Secrets in
// pilotlight's own namespace.
const (
	// CASecretName holds the self-signed root pilotlight made (Istio's
	// istio-ca-secret), created by the first replica to start.
	CASecretName = "pilotlight-ca"
	// PluggedCASecretName is a user's CA, in Istio's cacerts layout; when
	// present it is used instead.
	PluggedCASecretName = "cacerts"
)

// LoadOrCreateClusterCA returns the cluster's CA: the cacerts Secret when
// there is one, else pilotlight-ca, created with a new root if missing.
// Replicas that race to create it all end up reading the winner's.
func LoadOrCreateClusterCA(ctx context.Context, client kubernetes.Interface, namespace, trustDomain string, now func() time.Time) (*CA, string, error) {
	if now == nil {
		now = time.Now
	}
	secrets := client.CoreV1().Secrets(namespace)
	for _, name := range []string{PluggedCASecretName, CASecretName} {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("secret %s/%s: %w", namespace, name, err)
		}
		ca, err := NewCA(filesOf(s), trustDomain, now)
		if err != nil {
			return nil, "", fmt.Errorf("secret %s/%s: %w", namespace, name, err)
		}
		return ca, namespace + "/" + name, nil
	}
	files, err := NewSelfSignedFiles(trustDomain, now())
	if err != nil {
		return nil, "", err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: CASecretName, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "pilotlight"}},
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			CACertFile: files.CACert, CAKeyFile: files.CAKey, RootCertFile: files.RootCert, CertChainFile: files.CertChain,
		},
	}
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		return LoadOrCreateClusterCA(ctx, client, namespace, trustDomain, now) // another replica won
	} else if err != nil {
		return nil, "", fmt.Errorf("creating secret %s/%s: %w", namespace, CASecretName, err)
	}
	ca, err := NewCA(files, trustDomain, now)
	return ca, namespace + "/" + CASecretName, err
}

// filesOf reads a CA Secret's keys (Istio's names; root-cert.pem and
// cert-chain.pem default to ca-cert.pem).
func filesOf(s *corev1.Secret) Files {
	f := Files{CACert: s.Data[CACertFile], CAKey: s.Data[CAKeyFile], RootCert: s.Data[RootCertFile], CertChain: s.Data[CertChainFile]}
	if len(f.RootCert) == 0 {
		f.RootCert = f.CACert
	}
	if len(f.CertChain) == 0 {
		f.CertChain = f.CACert
	}
	return f
}
