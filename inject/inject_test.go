package inject

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden injected pods")

var testConfig = &Config{
	ProxyImage:      DefaultProxyImage,
	CaptureImage:    "pilotlight:dev",
	XDSAddr:         "pilotlight.pilotlight-system.svc:15010",
	SystemNamespace: "pilotlight-system",
}

func appPod(labels, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-7d9f-", Namespace: "shop", Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "nginx",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}

func TestRequired(t *testing.T) {
	hostNet := appPod(nil, nil)
	hostNet.Spec.HostNetwork = true
	injectedPod, _, err := testConfig.Inject(appPod(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	withProxy := appPod(nil, nil)
	withProxy.Spec.Containers = append(withProxy.Spec.Containers, corev1.Container{Name: ProxyContainerName})
	cases := []struct {
		name      string
		pod       *corev1.Pod
		namespace string
		inject    bool
		warning   string
	}{
		{"namespace default", appPod(nil, nil), "shop", true, ""},
		{"label true", appPod(map[string]string{InjectLabel: "true"}, nil), "shop", true, ""},
		{"label false", appPod(map[string]string{InjectLabel: "false"}, nil), "shop", false, ""},
		{"annotation false", appPod(nil, map[string]string{InjectLabel: "false"}), "shop", false, ""},
		{"label beats annotation", appPod(map[string]string{InjectLabel: "true"}, map[string]string{InjectLabel: "false"}), "shop", true, ""},
		{"label beats annotation (false)", appPod(map[string]string{InjectLabel: "false"}, map[string]string{InjectLabel: "true"}), "shop", false, ""},
		{"neither true nor false", appPod(map[string]string{InjectLabel: "yes"}, nil), "shop", true, `"yes" is neither`},
		{"hostNetwork", hostNet, "shop", false, ""},
		{"pilotlight's namespace", appPod(map[string]string{InjectLabel: "true"}, nil), "pilotlight-system", false, ""},
		{"kube-system", appPod(map[string]string{InjectLabel: "true"}, nil), "kube-system", false, ""},
		{"already injected", injectedPod, "shop", false, ""},
		{"has an istio-proxy container", withProxy, "shop", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := testConfig.Required(tc.pod, tc.namespace)
			if d.Inject != tc.inject {
				t.Errorf("inject = %v (%s), want %v", d.Inject, d.Reason, tc.inject)
			}
			if got := strings.Join(d.Warnings, "\n"); (tc.warning == "") != (got == "") || !strings.Contains(got, tc.warning) {
				t.Errorf("warnings %q, want %q", got, tc.warning)
			}
		})
	}
}

// TestInjectGolden: the whole injected pod, for reading in review. The
// checks below pin what must be there whatever the golden file says.
func TestInjectGolden(t *testing.T) {
	pod := appPod(map[string]string{"app": "web"}, map[string]string{ExcludeOutboundPorts: "5432"})
	out, warnings, err := testConfig.Inject(pod)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("%v %v", err, warnings)
	}
	got, err := yaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "injected-pod.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./inject -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test ./inject -update, then read the diff):\n%s", path, got)
	}

	if pod.Spec.InitContainers != nil || len(pod.Spec.Containers) != 1 {
		t.Error("Inject changed its input")
	}
	if out.Labels[TLSModeLabel] != "istio" || out.Annotations[StatusAnnotation] == "" || out.Annotations[DefaultContainerAnnotation] != "web" {
		t.Errorf("labels %v annotations %v", out.Labels, out.Annotations)
	}
	proxy := out.Spec.Containers[1]
	if proxy.Name != ProxyContainerName || *proxy.SecurityContext.RunAsUser != ProxyUID || proxy.ReadinessProbe.HTTPGet.Path != "/healthz/ready" {
		t.Errorf("sidecar %+v", proxy)
	}
	initC := out.Spec.InitContainers[0]
	caps := initC.SecurityContext.Capabilities.Add
	if initC.Args[0] != "init-capture" || len(caps) != 2 || caps[0] != "NET_ADMIN" || caps[1] != "NET_RAW" || !strings.Contains(strings.Join(initC.Args, " "), "-o 5432") {
		t.Errorf("init container %+v", initC)
	}
	token := out.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken
	if token.Audience != "pilotlight" || *token.ExpirationSeconds != 43200 {
		t.Errorf("token projection %+v", token)
	}
	if cm := out.Spec.Volumes[1].ConfigMap; cm.Name != "istio-ca-root-cert" || cm.Items[0].Key != "root-cert.pem" {
		t.Errorf("root cert volume %+v", cm)
	}
}

func TestCaptureArgs(t *testing.T) {
	cases := []struct {
		name        string
		annotations map[string]string
		want        []string // "-flag value" pairs that must be in the args
		warning     string
		err         string
	}{
		{name: "defaults", want: []string{"-b *", "-d 15021,15090", "-i *", "-u 1337", "-p 15001", "-z 15006"}},
		{name: "Istio's annotations", annotations: map[string]string{
			IncludeInboundPorts: "8080, 9090", ExcludeInboundPorts: "9091,15021", IncludeOutboundIPRanges: "10.96.0.0/12",
			ExcludeOutboundIPRanges: "10.96.0.1/32", IncludeOutboundPorts: "443", ExcludeOutboundPorts: "5432,6379",
		}, want: []string{"-b 8080,9090", "-d 15021,15090,9091", "-i 10.96.0.0/12", "-x 10.96.0.1/32", "-q 443", "-o 5432,6379"}},
		{name: "IPv6 ranges are dropped with a warning", annotations: map[string]string{ExcludeOutboundIPRanges: "10.0.0.1,fd00::/8"},
			want: []string{"-x 10.0.0.1/32"}, warning: "IPv6 ranges fd00::/8 ignored"},
		{name: "an annotation not implemented", annotations: map[string]string{"sidecar.istio.io/proxyCPU": "2"}, warning: "sidecar.istio.io/proxyCPU is not implemented"},
		{name: "TPROXY", annotations: map[string]string{InterceptionModeAnnotation: "TPROXY"}, warning: "only REDIRECT"},
		{name: "a bad port", annotations: map[string]string{ExcludeOutboundPorts: "postgres"}, err: ExcludeOutboundPorts},
		{name: "a bad range", annotations: map[string]string{IncludeOutboundIPRanges: "10.0.0.0/40"}, err: IncludeOutboundIPRanges},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args, warnings, err := captureArgs(tc.annotations)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			joined := " " + strings.Join(args, " ") + " "
			for _, w := range tc.want {
				if !strings.Contains(joined, " "+w+" ") {
					t.Errorf("args %q lack %q", joined, w)
				}
			}
			if got := strings.Join(warnings, "\n"); (tc.warning == "") != (got == "") || !strings.Contains(got, tc.warning) {
				t.Errorf("warnings %q, want %q", got, tc.warning)
			}
		})
	}
}
