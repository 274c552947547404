package kube

import (
	"context"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodToken is a real TokenRequest for the pod's ServiceAccount, bound to
// the pod (name and UID) and for audience, valid ttl: what the kubelet
// projects into a pod's token volume.
func (c *Cluster) PodToken(pod *corev1.Pod, audience string, ttl time.Duration) string {
	c.T.Helper()
	return c.serviceAccountToken(pod.Namespace, serviceAccountOf(pod), audience, ttl, &authenticationv1.BoundObjectReference{
		Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID,
	})
}

// UnboundToken is a TokenRequest for a ServiceAccount that names no pod.
func (c *Cluster) UnboundToken(namespace, serviceAccount, audience string, ttl time.Duration) string {
	c.T.Helper()
	return c.serviceAccountToken(namespace, serviceAccount, audience, ttl, nil)
}

func (c *Cluster) serviceAccountToken(namespace, serviceAccount, audience string, ttl time.Duration, bound *authenticationv1.BoundObjectReference) string {
	c.T.Helper()
	seconds := int64(ttl / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{audience}, ExpirationSeconds: &seconds, BoundObjectRef: bound,
	}}
	var out *authenticationv1.TokenRequest
	// The controller-manager creates a namespace's default ServiceAccount
	// a moment after the namespace.
	err := c.retry(10*time.Second, func(ctx context.Context) error {
		var err error
		out, err = c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		c.T.Fatalf("kube: TokenRequest for %s/%s: %v", namespace, serviceAccount, err)
	}
	return out.Status.Token
}

func serviceAccountOf(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	return "default"
}

// retry calls fn until it succeeds or timeout passes.
func (c *Cluster) retry(timeout time.Duration, fn func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := c.ctx()
		err := fn(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
