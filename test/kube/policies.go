package kube

import (
	"path/filepath"

	"encoding/json"
	"google.golang.org/protobuf/encoding/protojson"
	istiometa "istio.io/api/meta/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	ratelimitv1alpha1 "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
	"github.com/pilotlight/pilotlight/test/harness"
)

// pilotlight's own CRDs (deploy/crds), installed like Istio's, and objects
// of kinds the typed helpers do not cover, written with the dynamic client.

// installProjectCRDs installs every CRD in deploy/crds but the copy of
// Istio's (istioCRDFile), which installIstioCRDs took from the module.
func (c *Cluster) installProjectCRDs() {
	t := c.T
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(root, "deploy", "crds", "*.yaml"))
	n := 0
	for _, p := range paths {
		if filepath.Base(p) != istioCRDCopy {
			c.installCRDs(p)
			n++
		}
	}
	if n == 0 {
		t.Fatalf("kube: no CRDs of pilotlight's own in deploy/crds")
	}
}

// istioCRDCopy is deploy/crds' copy of Istio's CRDs
// (scripts/vendor-istio-crds.sh).
const istioCRDCopy = "istio-crds.gen.yaml"

// dynamicResources are the kinds ApplyObject writes.
var dynamicResources = map[string]schema.GroupVersionResource{
	ratelimitv1alpha1.Kind: ratelimitv1alpha1.Resource,
	"EnvoyFilter":          {Group: "networking.istio.io", Version: "v1alpha3", Resource: "envoyfilters"},
}

// ApplyObject creates the object of one YAML document (a RateLimitPolicy or
// an EnvoyFilter), or replaces the spec of the existing one.
func (c *Cluster) ApplyObject(doc string) *unstructured.Unstructured {
	t := c.T
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("kube: ApplyObject: %v", err)
	}
	gvr, ok := dynamicResources[u.GetKind()]
	if !ok {
		t.Fatalf("kube: ApplyObject: kind %s is not supported", u.GetKind())
	}
	api := c.Dynamic.Resource(gvr).Namespace(u.GetNamespace())
	ctx, cancel := c.ctx()
	defer cancel()
	out, err := api.Create(ctx, u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *unstructured.Unstructured
		if cur, err = api.Get(ctx, u.GetName(), metav1.GetOptions{}); err == nil {
			cur.Object["spec"] = u.Object["spec"]
			out, err = api.Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("kube: applying %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return out
}

// RateLimitPolicyStatus reads a RateLimitPolicy's status (in Istio's
// shape) and resourceVersion.
func (c *Cluster) RateLimitPolicyStatus(ns, name string) (*istiometa.IstioStatus, string, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	u, err := c.Dynamic.Resource(ratelimitv1alpha1.Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, "", err
	}
	st := &istiometa.IstioStatus{}
	if raw, ok := u.Object["status"]; ok {
		js, err := json.Marshal(raw)
		if err != nil {
			return nil, "", err
		}
		if err := protojson.Unmarshal(js, st); err != nil {
			return nil, "", err
		}
	}
	return st, u.GetResourceVersion(), nil
}
