package e2ekube

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

// TestKubeDeployApply installs deploy/ as a user would, on an API server
// with no Istio CRDs: `kubectl apply -k deploy/` (the kubectl built beside
// the API server) creates every object with no error and no warning; then
// `kubectl apply --server-side --dry-run=server` of the same is clean, and
// the Deployment's pod template passes the API server's Pod validation.
func TestKubeDeployApply(t *testing.T) {
	c := kube.StartBare(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	deploy := filepath.Join(root, "deploy")

	want, stderr, err := c.Kubectl("kustomize", deploy)
	if err != nil || stderr != "" {
		t.Fatalf("kubectl kustomize: %v\n%s", err, stderr)
	}
	objects := manifestObjects(t, want)

	start := time.Now()
	out, stderr, err := c.Kubectl("apply", "-k", deploy)
	t.Logf("kubectl apply -k deploy/ took %v", time.Since(start).Round(time.Millisecond))
	if err != nil || stderr != "" {
		t.Fatalf("kubectl apply -k deploy/: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	for _, o := range objects {
		if !strings.Contains(out, o.applied()+" created") {
			t.Errorf("kubectl apply did not create %s:\n%s", o.applied(), out)
		}
	}
	checkObjectsExist(t, c, objects)

	// Server-side apply over what client-side apply wrote: no conflict.
	// A dry run cannot store kubectl's move of the objects from client-side
	// to server-side field ownership, and kubectl says so once per object;
	// nothing else may appear. Then the move for real, and a dry run again,
	// both without a word on stderr.
	out, stderr, err = c.Kubectl("apply", "-k", deploy, "--server-side", "--dry-run=server")
	if err != nil || unexpectedLines(stderr, migrationNotice) != "" {
		t.Fatalf("kubectl apply --server-side --dry-run=server: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	for _, args := range [][]string{{"--server-side"}, {"--server-side", "--dry-run=server"}} {
		out, stderr, err = c.Kubectl(append([]string{"apply", "-k", deploy}, args...)...)
		if err != nil || stderr != "" {
			t.Fatalf("kubectl apply -k deploy/ %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
		}
	}

	// No kubelet runs pods here, so the Deployment's pod template is
	// checked as a Pod: created with dryRun, which runs every validation
	// and admission step but stores nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := c.Client.AppsV1().Deployments("pilotlight-system").Get(ctx, "pilotlight", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkDeployment(t, d)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "pilotlight-", Namespace: "pilotlight-system", Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
	if _, err := c.Client.CoreV1().Pods("pilotlight-system").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the Deployment's pod template fails Pod validation: %v", err)
	}
}

// TestDeployCRDsAreIstios: deploy/crds holds exactly the istio.io/api
// module's CRDs (scripts/vendor-istio-crds.sh), not an edited copy.
func TestDeployCRDsAreIstios(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := kube.IstioCRDFile()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "deploy", "crds", "istio-crds.gen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The copy starts with two comment lines that say where it comes from.
	lines := bytes.SplitN(got, []byte("\n"), 3)
	if len(lines) != 3 || !bytes.Equal(lines[2], want) {
		t.Fatalf("deploy/crds/istio-crds.gen.yaml is not %s: run make crds", src)
	}
}

// migrationNotice is kubectl's warning when a server-side dry run follows
// a client-side apply: it cannot store the migration of the
// last-applied-configuration annotation's ownership in a dry run.
var migrationNotice = regexp.MustCompile(`^Warning: failed to migrate kubectl\.kubernetes\.io/last-applied-configuration for Server-Side Apply\. ` +
	`This is non-fatal and will be retried next time you apply\. Error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" ` +
	`using [a-z0-9./]+: \.metadata\.annotations\.kubectl\.kubernetes\.io/last-applied-configuration$`)

// unexpectedLines are the lines of out that allowed does not match.
func unexpectedLines(out string, allowed *regexp.Regexp) string {
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" && !allowed.MatchString(line) {
			bad = append(bad, line)
		}
	}
	return strings.Join(bad, "\n")
}

// manifestObject is one object of a manifest, as kubectl names it.
type manifestObject struct {
	group, version, kind, namespace, name string
}

func (o manifestObject) applied() string {
	kind := strings.ToLower(o.kind)
	if o.group != "" {
		kind += "." + o.group
	}
	return kind + "/" + o.name
}

func (o manifestObject) gvr() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: o.group, Version: o.version, Resource: resourceOf(o.kind)}
}

// resourceOf is the plural resource of the kinds deploy/ holds.
func resourceOf(kind string) string {
	switch kind {
	case "PodDisruptionBudget":
		return "poddisruptionbudgets"
	case "CustomResourceDefinition":
		return "customresourcedefinitions"
	case "NetworkPolicy":
		return "networkpolicies"
	}
	return strings.ToLower(kind) + "s"
}

func manifestObjects(t *testing.T, manifest string) []manifestObject {
	t.Helper()
	var out []manifestObject
	for _, doc := range strings.Split(manifest, "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		u := unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" {
			continue
		}
		gv, _ := schema.ParseGroupVersion(u.GetAPIVersion())
		out = append(out, manifestObject{gv.Group, gv.Version, u.GetKind(), u.GetNamespace(), u.GetName()})
	}
	if len(out) < 20 {
		t.Fatalf("deploy/ has %d objects; want Istio's CRDs and pilotlight's own", len(out))
	}
	return out
}

func checkObjectsExist(t *testing.T, c *kube.Cluster, objects []manifestObject) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, o := range objects {
		var err error
		if o.namespace != "" {
			_, err = c.Dynamic.Resource(o.gvr()).Namespace(o.namespace).Get(ctx, o.name, metav1.GetOptions{})
		} else {
			_, err = c.Dynamic.Resource(o.gvr()).Get(ctx, o.name, metav1.GetOptions{})
		}
		if err != nil {
			t.Errorf("%s %s/%s: %v", o.kind, o.namespace, o.name, err)
		}
	}
}

// checkDeployment: what the install promises of the Deployment.
func checkDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	ctr := d.Spec.Template.Spec.Containers[0]
	if ctr.ReadinessProbe == nil || ctr.LivenessProbe == nil || ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() {
		t.Errorf("container %s lacks probes or resource requests", ctr.Name)
	}
}
