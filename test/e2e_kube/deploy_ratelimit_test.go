package e2ekube

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

// component is the part of a kustomize Component this test reads.
type component struct {
	APIVersion string
	Kind       string
	Resources  []string
	Patches    []struct {
		Target struct{ Kind, Name, Namespace string }
		Patch  string
	}
}

// TestDeployRateLimitComponent: the optional component
// deploy/components/ratelimit is accepted by a real API server on top of
// deploy/ (its Deployments and Services, and its JSON patches applied to
// pilotlight's Deployment, Service and NetworkPolicy as kustomize applies
// them), and points the rate-limit service at the xDS port the patches
// open, which the NetworkPolicy then admits from the service's pods.
func TestDeployRateLimitComponent(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "deploy", "components", "ratelimit")
	var comp component
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &comp); err != nil {
		t.Fatal(err)
	}
	if comp.Kind != "Component" || len(comp.Resources) == 0 || len(comp.Patches) != 3 {
		t.Fatalf("kustomization: %+v", comp)
	}

	c := kube.Start(t)
	for _, f := range []string{"namespace.yaml", "rbac.yaml", "deployment.yaml", "service.yaml", "networkpolicy.yaml"} {
		c.ApplyManifestFile(filepath.Join(root, "deploy", f))
	}
	for _, f := range comp.Resources {
		c.ApplyManifestFile(filepath.Join(dir, f))
	}
	ctx := context.Background()
	for _, p := range comp.Patches {
		js, err := yaml.YAMLToJSON([]byte(p.Patch))
		if err != nil {
			t.Fatal(err)
		}
		switch p.Target.Kind {
		case "Deployment":
			_, err = c.Client.AppsV1().Deployments(p.Target.Namespace).Patch(ctx, p.Target.Name, types.JSONPatchType, js, metav1.PatchOptions{})
		case "Service":
			_, err = c.Client.CoreV1().Services(p.Target.Namespace).Patch(ctx, p.Target.Name, types.JSONPatchType, js, metav1.PatchOptions{})
		case "NetworkPolicy":
			_, err = c.Client.NetworkingV1().NetworkPolicies(p.Target.Namespace).Patch(ctx, p.Target.Name, types.JSONPatchType, js, metav1.PatchOptions{})
		default:
			t.Fatalf("patch of a %s", p.Target.Kind)
		}
		if err != nil {
			t.Fatalf("patching %s %s/%s: %v", p.Target.Kind, p.Target.Namespace, p.Target.Name, err)
		}
	}

	pilot, err := c.Client.AppsV1().Deployments("pilotlight-system").Get(ctx, "pilotlight", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := pilot.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--ratelimit-xds-addr=0.0.0.0:18001") {
		t.Errorf("pilotlight's args %v lack --ratelimit-xds-addr", args)
	}
	svc, err := c.Client.CoreV1().Services("pilotlight-system").Get(ctx, "pilotlight", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasPort(svc, 18001) {
		t.Errorf("the pilotlight Service has no port 18001: %v", svc.Spec.Ports)
	}
	np, err := c.Client.NetworkingV1().NetworkPolicies("pilotlight-system").Get(ctx, "pilotlight", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	admitted := false
	for _, rule := range np.Spec.Ingress {
		for _, port := range rule.Ports {
			if port.Port != nil && port.Port.String() == "grpc-ratelimit" && len(rule.From) == 1 && rule.From[0].PodSelector != nil &&
				rule.From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] == "ratelimit" {
				admitted = true
			}
		}
	}
	if !admitted {
		t.Errorf("the NetworkPolicy does not admit the rate-limit service to grpc-ratelimit: %+v", np.Spec.Ingress)
	}
	rl, err := c.Client.AppsV1().Deployments("pilotlight-system").Get(ctx, "ratelimit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := containerEnv(rl, "CONFIG_GRPC_XDS_SERVER_URL"); got != "pilotlight.pilotlight-system.svc.cluster.local:18001" {
		t.Errorf("the rate-limit service asks %q for its limits", got)
	}
	if containerEnv(rl, "CONFIG_TYPE") != "GRPC_XDS_SOTW" || containerEnv(rl, "REDIS_SOCKET_TYPE") != "tcp" {
		t.Errorf("the rate-limit service's env: %v", rl.Spec.Template.Spec.Containers[0].Env)
	}
	rlSvc, err := c.Client.CoreV1().Services("pilotlight-system").Get(ctx, "ratelimit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The default spec.global.service of a RateLimitPolicy, spoken to in
	// HTTP/2 (appProtocol grpc).
	if !hasPort(rlSvc, 8081) || rlSvc.Spec.Ports[0].AppProtocol == nil || *rlSvc.Spec.Ports[0].AppProtocol != "grpc" {
		t.Errorf("the ratelimit Service: %v", rlSvc.Spec.Ports)
	}
}

func hasPort(svc *corev1.Service, port int32) bool {
	for _, p := range svc.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

func containerEnv(d *appsv1.Deployment, name string) string {
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
