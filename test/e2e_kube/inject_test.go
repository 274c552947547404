package e2ekube

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/inject"
	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

// TestKubeInjection: the webhook on the real API server. The
// MutatingWebhookConfiguration is deploy/webhook.yaml's (its selectors),
// pointed at the test's replica by clientConfig.url; the replica, elected,
// writes its caBundle. Then pods are created (no kubelet runs them) and
// read back as the API server stored them.
func TestKubeInjection(t *testing.T) {
	c := kube.Start(t)
	e := &env{t: t, c: c, k: c.Kubelet("node-1")}
	c.CreateNamespace(leaseNamespace)
	webhookAddr := harness.FreeAddr(t, "127.0.0.1")
	p := e.startPilot("injector", "--webhook-addr", webhookAddr, "--webhook-cert-hosts", "127.0.0.1",
		"--capture-image", "pilotlight:test", "--proxy-image", "envoyproxy/envoy:v1.40.0")
	registerWebhook(t, c, "https://"+webhookAddr+inject.Path)

	meshed, plain := "meshed", "plain"
	createNamespace(t, c, meshed, map[string]string{inject.NamespaceInjectionLabel: "enabled"})
	createNamespace(t, c, plain, nil)

	injected := createPod(t, c, meshed, "app", nil, nil)
	checkInjected(t, injected)
	validateBootstrap(t, injected, e.waitRootConfigMap(meshed))

	// Opted in by the pod label, in a namespace that says nothing.
	checkInjected(t, createPod(t, c, plain, "opted-in", map[string]string{inject.InjectLabel: "true"}, nil))

	unchanged := map[string]*corev1.Pod{
		"label false":         createPod(t, c, meshed, "label-false", map[string]string{inject.InjectLabel: "false"}, nil),
		"annotation false":    createPod(t, c, meshed, "annotation-false", nil, map[string]string{inject.InjectLabel: "false"}),
		"unlabelled ns":       createPod(t, c, plain, "plain", nil, nil),
		"hostNetwork":         createPodSpec(t, c, meshed, "host-net", nil, nil, func(s *corev1.PodSpec) { s.HostNetwork = true }),
		"pilotlight's own ns": createPod(t, c, leaseNamespace, "own", map[string]string{inject.InjectLabel: "true"}, nil),
	}
	for name, pod := range unchanged {
		if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 || pod.Annotations[inject.StatusAnnotation] != "" {
			t.Errorf("%s: pod %s/%s was changed: containers %d, init containers %d", name, pod.Namespace, pod.Name, len(pod.Spec.Containers), len(pod.Spec.InitContainers))
		}
	}

	// An annotation the injector cannot follow refuses the pod, naming it.
	_, err := tryCreatePod(c, meshed, "bad", nil, map[string]string{inject.ExcludeOutboundPorts: "postgres"}, nil)
	if err == nil || !strings.Contains(err.Error(), inject.ExcludeOutboundPorts) {
		t.Errorf("pod with a bad %s: %v, want refused naming the annotation", inject.ExcludeOutboundPorts, err)
	}

	metrics, err := harness.GetBody(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`pilotlight_sidecar_injection_requests_total{result="injected"} 2`, `pilotlight_sidecar_injection_requests_total{result="refused"} 1`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// registerWebhook creates deploy/webhook.yaml's configuration with every
// webhook sent to url, and waits until the leader has written its caBundle.
func registerWebhook(t *testing.T, c *kube.Cluster, url string) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "deploy", "webhook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	}
	ctx, cancel := context.WithTimeout(context.Background(), converge)
	defer cancel()
	if _, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c}
	if err := harness.Eventually(converge, 50*time.Millisecond, e.caBundleWritten(cfg.Name)); err != nil {
		t.Fatalf("the elected replica did not write the caBundle: %v", err)
	}
}

// caBundleWritten checks that every webhook of the configuration has the
// CA of Secret pilotlight-webhook-ca as its caBundle.
func (e *env) caBundleWritten(name string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		secret, err := e.c.Client.CoreV1().Secrets(leaseNamespace).Get(ctx, inject.CASecretName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cfg, err := e.c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, w := range cfg.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, secret.Data["ca-cert.pem"]) {
				return fmt.Errorf("webhook %s: caBundle is not the CA of Secret %s", w.Name, inject.CASecretName)
			}
		}
		return nil
	}
}

func createNamespace(t *testing.T, c *kube.Cluster, name string, labels map[string]string) {
	t.Helper()
	c.CreateNamespace(name)
	if len(labels) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), converge)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels = labels
	if _, err := c.Client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, c *kube.Cluster, namespace, name string, labels, annotations map[string]string) *corev1.Pod {
	t.Helper()
	return createPodSpec(t, c, namespace, name, labels, annotations, nil)
}

func createPodSpec(t *testing.T, c *kube.Cluster, namespace, name string, labels, annotations map[string]string, edit func(*corev1.PodSpec)) *corev1.Pod {
	t.Helper()
	pod, err := tryCreatePod(c, namespace, name, labels, annotations, edit)
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", namespace, name, err)
	}
	return pod
}

// tryCreatePod creates an app pod and returns it as the API server stored
// it, after every admission step.
func tryCreatePod(c *kube.Cluster, namespace, name string, labels, annotations map[string]string, edit func(*corev1.PodSpec)) (*corev1.Pod, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "pilotlight/echo:dev",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
	if edit != nil {
		edit(&pod.Spec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), converge)
	defer cancel()
	return c.Client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
}

// checkInjected: the sidecar, the init container, the volumes with the
// token projection, and the label, as the API server stored them.
func checkInjected(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	where := pod.Namespace + "/" + pod.Name
	if len(pod.Spec.Containers) != 2 || pod.Spec.Containers[1].Name != inject.ProxyContainerName {
		t.Fatalf("%s: containers %v, want app and %s", where, containerNames(pod.Spec.Containers), inject.ProxyContainerName)
	}
	proxy := pod.Spec.Containers[1]
	if proxy.Image != "envoyproxy/envoy:v1.40.0" || proxy.SecurityContext == nil || *proxy.SecurityContext.RunAsUser != inject.ProxyUID ||
		proxy.ReadinessProbe == nil || proxy.ReadinessProbe.HTTPGet.Port.IntValue() != 15021 {
		t.Errorf("%s: sidecar %+v", where, proxy)
	}
	if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != inject.InitContainerName {
		t.Fatalf("%s: init containers %v", where, containerNames(pod.Spec.InitContainers))
	}
	initC := pod.Spec.InitContainers[0]
	if initC.Image != "pilotlight:test" || initC.Args[0] != "init-capture" || len(initC.SecurityContext.Capabilities.Add) != 2 {
		t.Errorf("%s: init container %+v", where, initC)
	}
	var token *corev1.ServiceAccountTokenProjection
	var rootCert *corev1.ConfigMapVolumeSource
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Name == inject.TokenVolume && v.Projected != nil:
			token = v.Projected.Sources[0].ServiceAccountToken
		case v.Name == inject.RootCertVolume:
			rootCert = v.ConfigMap
		}
	}
	if token == nil || token.Audience != "pilotlight" || token.ExpirationSeconds == nil || *token.ExpirationSeconds != 43200 {
		t.Errorf("%s: token projection %+v", where, token)
	}
	if rootCert == nil || rootCert.Name != "istio-ca-root-cert" {
		t.Errorf("%s: root certificate volume %+v", where, rootCert)
	}
	if pod.Labels[inject.TLSModeLabel] != "istio" || pod.Annotations[inject.StatusAnnotation] == "" {
		t.Errorf("%s: labels %v annotations %v", where, pod.Labels, pod.Annotations)
	}
}

func containerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// validateBootstrap runs the sidecar's command line, expanded as the
// kubelet would for this pod, through `envoy --mode validate`.
func validateBootstrap(t *testing.T, pod *corev1.Pod, rootPEM string) {
	t.Helper()
	argv := kube.ExpandArgs(pod.Spec.Containers[1], map[string]string{
		"POD_NAME": pod.Name, "POD_NAMESPACE": pod.Namespace, "POD_IP": "10.244.0.7", "SERVICE_ACCOUNT": pod.Spec.ServiceAccountName,
	})
	// What the kubelet would mount: the projected token and the namespace's
	// root ConfigMap (Envoy reads the root when it validates).
	dir := t.TempDir()
	tokenFile, rootFile := filepath.Join(dir, "token"), filepath.Join(dir, "root-cert.pem")
	if err := os.WriteFile(tokenFile, []byte("a-projected-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootFile, []byte(rootPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := strings.NewReplacer(inject.TokenPath, tokenFile, inject.RootCertPath, rootFile)
	for i := range argv {
		argv[i] = mounts.Replace(argv[i])
	}
	if argv[0] != "envoy" || strings.Contains(strings.Join(argv, " "), "$(") {
		t.Fatalf("sidecar command line not fully expanded: %q", argv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.MustEnvoy(t), append([]string{"--mode", "validate"}, argv[1:]...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("envoy --mode validate of the injected sidecar's bootstrap: %v\n%s", err, out)
	}
	want := fmt.Sprintf("sidecar~10.244.0.7~%s.%s~%s.svc.cluster.local", pod.Name, pod.Namespace, pod.Namespace)
	if !strings.Contains(strings.Join(argv, " "), want) {
		t.Errorf("node id %s not in the expanded bootstrap", want)
	}
}
