package kube

import (
	"fmt"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// ApplyManifest creates, or replaces, every object of a multi-document YAML
// manifest of any kind the API server serves (like a minimal kubectl
// apply, with the dynamic client; an existing object is replaced as a
// whole, keeping its resourceVersion). Documents of namespaced kinds
// without a namespace go to "default".
func (c *Cluster) ApplyManifest(y string) {
	t := c.T
	t.Helper()
	docs, err := splitYAML(y)
	if err != nil {
		t.Fatalf("kube: ApplyManifest: %v", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	for _, doc := range docs {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("kube: ApplyManifest: %v", err)
		}
		u := &unstructured.Unstructured{Object: obj}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("kube: ApplyManifest: %s %s: %v", gvk, u.GetName(), err)
		}
		ri := c.Dynamic.Resource(m.Resource)
		var api dynamic.ResourceInterface = ri
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if u.GetNamespace() == "" {
				u.SetNamespace("default")
			}
			api = ri.Namespace(u.GetNamespace())
		}
		ctx, cancel := c.ctx()
		_, err = api.Create(ctx, u, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *unstructured.Unstructured
			if cur, err = api.Get(ctx, u.GetName(), metav1.GetOptions{}); err == nil {
				u.SetResourceVersion(cur.GetResourceVersion())
				_, err = api.Update(ctx, u, metav1.UpdateOptions{})
			}
		}
		cancel()
		if err != nil {
			t.Fatalf("kube: ApplyManifest: %s %s/%s: %v", gvk.Kind, u.GetNamespace(), u.GetName(), err)
		}
	}
}

// ApplyManifestFile is ApplyManifest on a file.
func (c *Cluster) ApplyManifestFile(path string) {
	c.T.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		c.T.Fatalf("kube: %v", err)
	}
	c.ApplyManifest(string(b))
}

// ServiceAccountKubeconfig issues a token for ServiceAccount ns/name (the
// TokenRequest API, valid for an hour) and writes a kubeconfig that uses
// it: a client with exactly the permissions RBAC gives that account.
func (c *Cluster) ServiceAccountKubeconfig(ns, name string) string {
	t := c.T
	t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	secs := int64(time.Hour / time.Second)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kube: token for service account %s/%s: %v", ns, name, err)
	}
	return c.KubeconfigFor(fmt.Sprintf("sa-%s-%s", ns, name), tr.Status.Token)
}
