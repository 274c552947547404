// Package inject adds pilotlight's sidecar to pods: it is the mutating
// admission webhook a labelled namespace's pods pass through. It decides
// with Istio's rules whether a pod gets a sidecar, and adds an Envoy
// container (its bootstrap rendered by translate.Bootstrap, filled in by the
// kubelet from the downward API), an init container that runs `pilotlight
// init-capture`, the projected ServiceAccount token and root certificate
// volumes, and the labels and annotations Istio's injector sets. The answer
// to the API server is a JSONPatch computed by a library from the pod
// before and after.
package inject

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Istio's labels and annotations, so that a tutorial's YAML works.
const (
	// InjectLabel (or, deprecated, the annotation of the same name) set to
	// "true" or "false" on a pod overrides its namespace.
	InjectLabel = "sidecar.istio.io/inject"
	// NamespaceInjectionLabel=enabled turns injection on for a namespace.
	NamespaceInjectionLabel = "istio-injection"
	// StatusAnnotation marks an injected pod (and lists what was added):
	// a pod that has it is never injected again.
	StatusAnnotation = "sidecar.istio.io/status"
	// TLSModeLabel=istio marks a meshed pod; auto mTLS reads it.
	TLSModeLabel = "security.istio.io/tlsMode"
	// DefaultContainerAnnotation makes kubectl logs/exec pick the app.
	DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"
)

// Names of what injection adds, as Istio names them.
const (
	ProxyContainerName = "istio-proxy"
	InitContainerName  = "istio-init"
)

// Config is what the injector needs to know about the installation.
type Config struct {
	// ProxyImage is the sidecar's Envoy image (upstream Envoy 1.40).
	ProxyImage string
	// CaptureImage runs `pilotlight init-capture`: pilotlight's own image.
	CaptureImage string
	// XDSAddr is where sidecars reach pilotlight's ADS server, e.g.
	// pilotlight.pilotlight-system.svc:15010.
	XDSAddr string
	// SystemNamespace is pilotlight's own namespace: never injected.
	SystemNamespace string
}

// DefaultProxyImage is the upstream Envoy image of the version pilotlight
// is built and tested against.
const DefaultProxyImage = "envoyproxy/envoy:v1.40.0"

// ignoredNamespaces are never injected, whatever their labels say (Istio's
// list, with pilotlight's own namespace added by Required).
var ignoredNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true, "local-path-storage": true}

// Decision is whether a pod gets a sidecar, and why (for logs and metrics).
type Decision struct {
	Inject   bool
	Reason   string
	Warnings []string
}

// Required follows Istio's injectRequired: no sidecar for host-network
// pods, ignored namespaces (and pilotlight's own), or pods already
// injected; then the pod's sidecar.istio.io/inject label, then the
// annotation of that name, decide; a pod that says nothing is injected
// (the webhook's selectors only send pods of labelled namespaces, or pods
// labelled "true").
func (c *Config) Required(pod *corev1.Pod, namespace string) Decision {
	switch {
	case pod.Spec.HostNetwork:
		return Decision{Reason: "hostNetwork pod"}
	case namespace == c.SystemNamespace:
		return Decision{Reason: "pilotlight's own namespace " + namespace}
	case ignoredNamespaces[namespace]:
		return Decision{Reason: "ignored namespace " + namespace}
	case injected(pod):
		return Decision{Reason: "already injected"}
	}
	var warnings []string
	for _, source := range []struct {
		kind   string
		values map[string]string
	}{{"label", pod.Labels}, {"annotation", pod.Annotations}} {
		value, set := source.values[InjectLabel]
		if !set {
			continue
		}
		switch strings.ToLower(value) {
		case "true":
			return Decision{Inject: true, Reason: source.kind + " " + InjectLabel + "=true", Warnings: warnings}
		case "false":
			return Decision{Reason: source.kind + " " + InjectLabel + "=false", Warnings: warnings}
		}
		warnings = append(warnings, fmt.Sprintf("%s %s=%q is neither \"true\" nor \"false\"; ignored", source.kind, InjectLabel, value))
	}
	return Decision{Inject: true, Reason: "namespace default", Warnings: warnings}
}

// injected: the pod carries the status annotation or a sidecar already.
func injected(pod *corev1.Pod) bool {
	if _, ok := pod.Annotations[StatusAnnotation]; ok {
		return true
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == ProxyContainerName {
			return true
		}
	}
	return false
}

// Inject returns a copy of the pod with the sidecar added, and warnings
// for the annotations it could not follow in full. An annotation it cannot
// read at all is an error naming it: the pod is refused rather than run
// without the capture its owner asked for.
func (c *Config) Inject(pod *corev1.Pod) (*corev1.Pod, []string, error) {
	captureArgs, warnings, err := captureArgs(pod.Annotations)
	if err != nil {
		return nil, nil, err
	}
	proxy, err := c.proxyContainer()
	if err != nil {
		return nil, nil, err
	}
	out := pod.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	if _, set := out.Annotations[DefaultContainerAnnotation]; !set && len(out.Spec.Containers) > 0 {
		out.Annotations[DefaultContainerAnnotation] = out.Spec.Containers[0].Name
	}
	out.Labels[TLSModeLabel] = "istio"
	out.Annotations[StatusAnnotation] = statusValue
	out.Spec.InitContainers = append(out.Spec.InitContainers, c.initContainer(captureArgs))
	out.Spec.Containers = append(out.Spec.Containers, proxy)
	out.Spec.Volumes = append(out.Spec.Volumes, volumes()...)
	return out, warnings, nil
}
