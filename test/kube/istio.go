package kube

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	metav1alpha1 "istio.io/api/meta/v1alpha1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Istio objects are written with the networking.istio.io/v1alpha3 typed
// clients of istio.io/client-go, the oldest spelling Istio still serves
// (the CRDs store v1): a control plane must read what users wrote in any
// served version. ApplyYAML accepts any networking.istio.io version in its
// input and writes v1alpha3; the spec is the same in all of them.

// IstioGroupV1alpha3 is the apiVersion the helpers write.
const IstioGroupV1alpha3 = "networking.istio.io/v1alpha3"

// ApplyVirtualService creates vs, or replaces the spec (and labels and
// annotations) of the existing object of that name. It returns the object
// as stored.
func (c *Cluster) ApplyVirtualService(vs *networkingv1alpha3.VirtualService) *networkingv1alpha3.VirtualService {
	t := c.T
	t.Helper()
	api := c.Istio.NetworkingV1alpha3().VirtualServices(vs.Namespace)
	ctx, cancel := c.ctx()
	defer cancel()
	out, err := api.Create(ctx, vs, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *networkingv1alpha3.VirtualService
		if cur, err = api.Get(ctx, vs.Name, metav1.GetOptions{}); err == nil {
			upd := cur.DeepCopy()
			upd.Labels, upd.Annotations = vs.Labels, vs.Annotations
			vs.Spec.DeepCopyInto(&upd.Spec)
			out, err = api.Update(ctx, upd, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("kube: applying VirtualService %s/%s: %v", vs.Namespace, vs.Name, err)
	}
	return out
}

// ApplyDestinationRule is ApplyVirtualService for a DestinationRule.
func (c *Cluster) ApplyDestinationRule(dr *networkingv1alpha3.DestinationRule) *networkingv1alpha3.DestinationRule {
	t := c.T
	t.Helper()
	api := c.Istio.NetworkingV1alpha3().DestinationRules(dr.Namespace)
	ctx, cancel := c.ctx()
	defer cancel()
	out, err := api.Create(ctx, dr, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *networkingv1alpha3.DestinationRule
		if cur, err = api.Get(ctx, dr.Name, metav1.GetOptions{}); err == nil {
			upd := cur.DeepCopy()
			upd.Labels, upd.Annotations = dr.Labels, dr.Annotations
			dr.Spec.DeepCopyInto(&upd.Spec)
			out, err = api.Update(ctx, upd, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("kube: applying DestinationRule %s/%s: %v", dr.Namespace, dr.Name, err)
	}
	return out
}

// ApplyGateway is ApplyVirtualService for a Gateway.
func (c *Cluster) ApplyGateway(gw *networkingv1alpha3.Gateway) *networkingv1alpha3.Gateway {
	t := c.T
	t.Helper()
	api := c.Istio.NetworkingV1alpha3().Gateways(gw.Namespace)
	ctx, cancel := c.ctx()
	defer cancel()
	out, err := api.Create(ctx, gw, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *networkingv1alpha3.Gateway
		if cur, err = api.Get(ctx, gw.Name, metav1.GetOptions{}); err == nil {
			upd := cur.DeepCopy()
			upd.Labels, upd.Annotations = gw.Labels, gw.Annotations
			gw.Spec.DeepCopyInto(&upd.Spec)
			out, err = api.Update(ctx, upd, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("kube: applying Gateway %s/%s: %v", gw.Namespace, gw.Name, err)
	}
	return out
}

// ApplyYAML applies every document of y (separated by ---): Istio
// VirtualServices, DestinationRules and Gateways of any
// networking.istio.io version, written as v1alpha3. Other kinds fail the
// test. Documents without a namespace get "default".
func (c *Cluster) ApplyYAML(y string) {
	t := c.T
	t.Helper()
	docs, err := splitYAML(y)
	if err != nil {
		t.Fatalf("kube: ApplyYAML: %v", err)
	}
	for _, doc := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("kube: ApplyYAML: %v", err)
		}
		if !strings.HasPrefix(head.APIVersion, "networking.istio.io/") {
			t.Fatalf("kube: ApplyYAML: %s %s is not an Istio networking object", head.APIVersion, head.Kind)
		}
		switch head.Kind {
		case "VirtualService":
			var vs networkingv1alpha3.VirtualService
			c.decodeIstio(doc, &vs, &vs.TypeMeta, &vs.ObjectMeta)
			c.ApplyVirtualService(&vs)
		case "DestinationRule":
			var dr networkingv1alpha3.DestinationRule
			c.decodeIstio(doc, &dr, &dr.TypeMeta, &dr.ObjectMeta)
			c.ApplyDestinationRule(&dr)
		case "Gateway":
			var gw networkingv1alpha3.Gateway
			c.decodeIstio(doc, &gw, &gw.TypeMeta, &gw.ObjectMeta)
			c.ApplyGateway(&gw)
		default:
			t.Fatalf("kube: ApplyYAML: kind %s is not supported", head.Kind)
		}
	}
}

func (c *Cluster) decodeIstio(doc []byte, obj any, tm *metav1.TypeMeta, om *metav1.ObjectMeta) {
	t := c.T
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("kube: ApplyYAML: decoding %s: %v", firstLines(doc), err)
	}
	tm.APIVersion = IstioGroupV1alpha3
	if om.Namespace == "" {
		om.Namespace = "default"
	}
}

// splitYAML splits a multi-document YAML stream into its non-empty
// documents (as YAML).
func splitYAML(y string) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(y)))
	var out [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(stripComments(string(doc))) == "" {
			continue
		}
		out = append(out, doc)
	}
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func firstLines(doc []byte) string {
	lines := strings.SplitN(string(doc), "\n", 6)
	if len(lines) > 5 {
		lines = lines[:5]
	}
	return strings.Join(lines, " | ")
}

// DeleteVirtualService deletes a VirtualService.
func (c *Cluster) DeleteVirtualService(ns, name string) {
	t := c.T
	t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	if err := c.Istio.NetworkingV1alpha3().VirtualServices(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("kube: deleting VirtualService %s/%s: %v", ns, name, err)
	}
}

// VirtualService reads a VirtualService (as v1alpha3), status included.
func (c *Cluster) VirtualService(ns, name string) (*networkingv1alpha3.VirtualService, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	return c.Istio.NetworkingV1alpha3().VirtualServices(ns).Get(ctx, name, metav1.GetOptions{})
}

// DestinationRule reads a DestinationRule (as v1alpha3), status included.
func (c *Cluster) DestinationRule(ns, name string) (*networkingv1alpha3.DestinationRule, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	return c.Istio.NetworkingV1alpha3().DestinationRules(ns).Get(ctx, name, metav1.GetOptions{})
}

// Condition returns the status condition of type typ, or nil.
func Condition(st *metav1alpha1.IstioStatus, typ string) *metav1alpha1.IstioCondition {
	if st == nil {
		return nil
	}
	for _, c := range st.GetConditions() {
		if c.GetType() == typ {
			return c
		}
	}
	return nil
}

// FormatStatus renders an Istio status for messages.
func FormatStatus(st *metav1alpha1.IstioStatus) string {
	if st == nil {
		return "<no status>"
	}
	var parts []string
	for _, c := range st.GetConditions() {
		parts = append(parts, fmt.Sprintf("condition{type=%s status=%s reason=%s message=%q}", c.GetType(), c.GetStatus(), c.GetReason(), c.GetMessage()))
	}
	for _, m := range st.GetValidationMessages() {
		parts = append(parts, fmt.Sprintf("validationMessage{level=%s code=%s name=%s}", m.GetLevel(), m.GetType().GetCode(), m.GetType().GetName()))
	}
	if len(parts) == 0 {
		return "<empty status>"
	}
	return strings.Join(parts, " ")
}
