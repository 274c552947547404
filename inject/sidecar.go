package inject

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/capture"
	"github.com/pilotlight/pilotlight/translate"
)

// The sidecar runs as Istio's proxy user: init-capture leaves its traffic
// alone by this uid and gid.
const (
	ProxyUID = 1337
	ProxyGID = 1337
)

// Volumes added to the pod, and where the sidecar finds them. The token is
// what the sidecar proves its identity to pilotlight with (audience
// pilotlight, rotated by the kubelet); the root certificate is the mesh's
// CA, which pilotlight publishes in every namespace as Istio does.
const (
	TokenVolume       = "pilotlight-token"
	TokenDir          = "/var/run/secrets/tokens"
	TokenPath         = TokenDir + "/" + TokenFile
	TokenFile         = "pilotlight-token"
	TokenAudience     = "pilotlight"
	TokenExpiration   = 43200 // seconds, as Istio's sidecar token
	RootCertVolume    = "istio-ca-root-cert"
	RootCertConfigMap = "istio-ca-root-cert"
	RootCertKey       = "root-cert.pem"
	RootCertDir       = "/var/run/secrets/istio"
	RootCertPath      = RootCertDir + "/" + RootCertKey
)

// statusValue is the sidecar.istio.io/status annotation: what was added.
var statusValue = func() string {
	b, _ := json.Marshal(map[string]any{
		"initContainers": []string{InitContainerName},
		"containers":     []string{ProxyContainerName},
		"volumes":        []string{TokenVolume, RootCertVolume},
	})
	return string(b)
}()

// downwardEnv are the pod facts the bootstrap needs, which only the
// kubelet knows (a pod created from a template has no name yet).
var downwardEnv = []corev1.EnvVar{
	fieldEnv("POD_NAME", "metadata.name"),
	fieldEnv("POD_NAMESPACE", "metadata.namespace"),
	fieldEnv("POD_IP", "status.podIP"),
	fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

// BootstrapOptions are the sidecar's bootstrap options, with $(VAR)
// references to downwardEnv that the kubelet expands in the container's
// args. The sidecar proves its pod with the projected token, and checks
// pilotlight's TLS certificate against the mounted mesh root.
func (c *Config) BootstrapOptions() translate.BootstrapOptions {
	return translate.BootstrapOptions{
		Proxy: translate.Proxy{
			Type:         translate.Sidecar,
			IP:           "$(POD_IP)",
			PodName:      "$(POD_NAME)",
			Namespace:    "$(POD_NAMESPACE)",
			Interception: translate.InterceptRedirect,
		},
		ServiceAccount: "$(SERVICE_ACCOUNT)",
		XDSAddr:        c.XDSAddr,
		AdminAddr:      fmt.Sprintf("127.0.0.1:%d", translate.AdminPort),
		HealthPort:     translate.HealthPort,
		TokenFile:      TokenPath,
		RootCertFile:   RootCertPath,
	}
}

// BootstrapYAML renders the bootstrap the sidecar's args carry.
func (c *Config) BootstrapYAML() (string, error) {
	b, err := translate.Bootstrap(c.BootstrapOptions())
	if err != nil {
		return "", fmt.Errorf("sidecar bootstrap: %w", err)
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		return "", err
	}
	y, err := yaml.JSONToYAML(js)
	return string(y), err
}

// proxyContainer is Envoy with the bootstrap in --config-yaml, running as
// the proxy user, ready when Envoy has its first config (HealthPort).
func (c *Config) proxyContainer() (corev1.Container, error) {
	bootstrap, err := c.BootstrapYAML()
	if err != nil {
		return corev1.Container{}, err
	}
	return corev1.Container{
		Name:    ProxyContainerName,
		Image:   c.ProxyImage,
		Command: []string{"envoy"},
		// No hot restart: it needs shared memory, and a pod restarts Envoy
		// by restarting the container.
		Args: []string{"--config-yaml", bootstrap, "--disable-hot-restart", "--log-level", "warning"},
		Env:  downwardEnv,
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: translate.HealthPath, Port: intstr.FromInt32(translate.HealthPort),
			}},
			InitialDelaySeconds: 1,
			PeriodSeconds:       2,
			TimeoutSeconds:      3,
			FailureThreshold:    30,
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](ProxyUID),
			RunAsGroup:               ptr.To[int64](ProxyGID),
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Privileged:               ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: TokenVolume, MountPath: TokenDir, ReadOnly: true},
			{Name: RootCertVolume, MountPath: RootCertDir, ReadOnly: true},
		},
	}, nil
}

// initContainer installs the capture rules: root with NET_ADMIN and
// NET_RAW only, for the moment it runs.
func (c *Config) initContainer(args []string) corev1.Container {
	return corev1.Container{
		Name:  InitContainerName,
		Image: c.CaptureImage,
		Args:  append([]string{"init-capture"}, args...),
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](0),
			RunAsGroup:               ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Privileged:               ptr.To(false),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
		},
	}
}

// volumes: the projected token (audience pilotlight, 12 h, rotated by the
// kubelet) and the root certificate ConfigMap. The ConfigMap is optional
// so that a pod still starts in a namespace where it is not published yet.
func volumes() []corev1.Volume {
	return []corev1.Volume{
		{Name: TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: TokenAudience, ExpirationSeconds: ptr.To[int64](TokenExpiration), Path: TokenFile,
			}}},
		}}},
		{Name: RootCertVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: RootCertConfigMap},
			Items:                []corev1.KeyToPath{{Key: RootCertKey, Path: RootCertKey}},
			Optional:             ptr.To(true),
		}}},
	}
}

// captureDefaults are the init container's flags before annotations.
var captureDefaults = capture.DefaultConfig()
