package inject

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Path is where the webhook is served (clientConfig.service.path).
const Path = "/inject"

// maxReviewBytes bounds a request body: a pod is far smaller, and the
// body comes from the network.
const maxReviewBytes = 8 << 20

// Webhook answers the API server's AdmissionReviews (admission.k8s.io/v1)
// for pod creations.
type Webhook struct {
	config   *Config
	log      *slog.Logger
	requests *prometheus.CounterVec
}

// NewWebhook registers pilotlight_sidecar_injection_requests_total{result}
// (injected, skipped, refused, invalid).
func NewWebhook(c *Config, log *slog.Logger, reg prometheus.Registerer) *Webhook {
	w := &Webhook{config: c, log: log, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pilotlight_sidecar_injection_requests_total",
		Help: "Admission reviews of pods by the injection webhook, by result: injected, skipped, refused (a pod annotation could not be followed), invalid (not an AdmissionReview of a pod).",
	}, []string{"result"})}
	if reg != nil {
		reg.MustRegister(w.requests)
	}
	return w
}

func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		w.invalid(rw, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxReviewBytes))
	if err != nil {
		w.invalid(rw, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		w.invalid(rw, http.StatusBadRequest, fmt.Sprintf("not an AdmissionReview with a request: %v", err))
		return
	}
	resp := w.review(review.Request)
	resp.UID = review.Request.UID
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(out)
}

func (w *Webhook) invalid(rw http.ResponseWriter, code int, msg string) {
	w.requests.WithLabelValues("invalid").Inc()
	http.Error(rw, msg, code)
}

// review decides one request. Anything but a pod creation is allowed
// unchanged (the webhook's rules send only those).
func (w *Webhook) review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		w.requests.WithLabelValues("skipped").Inc()
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		w.requests.WithLabelValues("invalid").Inc()
		return refuse(fmt.Sprintf("pilotlight sidecar injection: decoding the pod: %v", err))
	}
	name := podName(&pod)
	d := w.config.Required(&pod, req.Namespace)
	if !d.Inject {
		w.requests.WithLabelValues("skipped").Inc()
		w.log.Debug("sidecar not injected", "namespace", req.Namespace, "pod", name, "reason", d.Reason)
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: d.Warnings}
	}
	patch, warnings, err := w.config.Patch(&pod)
	if err != nil {
		w.requests.WithLabelValues("refused").Inc()
		w.log.Warn("sidecar injection refused the pod", "namespace", req.Namespace, "pod", name, "error", err)
		return refuse(fmt.Sprintf("pilotlight sidecar injection: %v", err))
	}
	w.requests.WithLabelValues("injected").Inc()
	w.log.Info("sidecar injected", "namespace", req.Namespace, "pod", name, "reason", d.Reason)
	jsonPatch := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &jsonPatch, Warnings: append(d.Warnings, warnings...)}
}

func refuse(msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Message: msg, Reason: metav1.StatusReasonBadRequest, Code: http.StatusBadRequest,
	}}
}

// podName is the pod's name, or its generateName prefix (a ReplicaSet's
// pods have no name yet when they are admitted).
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}

// Patch is the JSONPatch from the pod to the injected pod, computed by
// gomodules.xyz/jsonpatch from the two as JSON (both marshaled from the
// same Go types, so that only what Inject changed differs).
func (c *Config) Patch(pod *corev1.Pod) ([]byte, []string, error) {
	injectedPod, warnings, err := c.Inject(pod)
	if err != nil {
		return nil, nil, err
	}
	before, err := json.Marshal(pod)
	if err != nil {
		return nil, nil, err
	}
	after, err := json.Marshal(injectedPod)
	if err != nil {
		return nil, nil, err
	}
	ops, err := jsonpatch.CreatePatch(before, after)
	if err != nil {
		return nil, nil, fmt.Errorf("computing the patch: %w", err)
	}
	patch, err := json.Marshal(ops)
	return patch, warnings, err
}
