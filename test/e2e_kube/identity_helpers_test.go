package e2ekube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/test/harness"
)

const (
	rootConfigMap = "istio-ca-root-cert"
	rootKey       = "root-cert.pem"
	tokenAudience = "pilotlight"
)

// sidecarIdentity writes what the kubelet would mount into an injected
// pod: its projected token (0600) and the namespace's root ConfigMap.
func (e *env) sidecarIdentity(pod *corev1.Pod) (tokenFile, rootFile string) {
	t := e.t
	t.Helper()
	dir := filepath.Join(harness.LogDir(t), "pods", pod.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile = filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(e.c.PodToken(pod, tokenAudience, time.Hour)), 0o600); err != nil {
		t.Fatal(err)
	}
	rootFile = filepath.Join(dir, rootKey)
	if err := os.WriteFile(rootFile, []byte(e.waitRootConfigMap(pod.Namespace)), 0o644); err != nil {
		t.Fatal(err)
	}
	return tokenFile, rootFile
}

// waitRootConfigMap waits for pilotlight's istio-ca-root-cert in a
// namespace and returns its root-cert.pem.
func (e *env) waitRootConfigMap(namespace string) string {
	e.t.Helper()
	var root string
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cm, err := e.c.Client.CoreV1().ConfigMaps(namespace).Get(ctx, rootConfigMap, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if root = cm.Data[rootKey]; root == "" {
			return fmt.Errorf("%s/%s has no %s", namespace, rootConfigMap, rootKey)
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("root ConfigMap: %v", err)
	}
	return root
}
