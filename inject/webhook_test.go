package inject

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	jsonpatchapply "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func review(t *testing.T, srv *httptest.Server, kind string, op admissionv1.Operation, namespace string, pod *corev1.Pod) (*admissionv1.AdmissionResponse, []byte) {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "req-1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind}, Operation: op,
			Namespace: namespace, Object: runtime.RawExtension{Raw: raw},
		},
	})
	resp, err := http.Post(srv.URL+Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
		t.Fatalf("decoding the answer (HTTP %d): %v", resp.StatusCode, err)
	}
	if out.Response.UID != "req-1" || out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
		t.Errorf("answer does not match the request: %+v", out)
	}
	return out.Response, raw
}

func newTestWebhook(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(NewWebhook(testConfig, slog.New(slog.NewTextHandler(io.Discard, nil)), nil))
	t.Cleanup(srv.Close)
	return srv
}

// TestWebhookPatchGivesTheInjectedPod: the patch, applied by another
// JSONPatch implementation to the pod the API server sent, gives exactly
// what Inject builds.
func TestWebhookPatchGivesTheInjectedPod(t *testing.T) {
	srv := newTestWebhook(t)
	pod := appPod(map[string]string{"app": "web"}, nil)
	resp, raw := review(t, srv, "Pod", admissionv1.Create, "shop", pod)
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("response %+v", resp)
	}
	patch, err := jsonpatchapply.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := patch.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	want, _, _ := testConfig.Inject(pod)
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("patched pod differs from Inject's:\n%s", patched)
	}
}

func TestWebhookLeavesAlone(t *testing.T) {
	srv := newTestWebhook(t)
	optOut := appPod(map[string]string{InjectLabel: "false"}, nil)
	cases := []struct {
		name, kind, namespace string
		op                    admissionv1.Operation
		pod                   *corev1.Pod
	}{
		{"inject=false", "Pod", "shop", admissionv1.Create, optOut},
		{"own namespace", "Pod", "pilotlight-system", admissionv1.Create, appPod(nil, nil)},
		{"an update", "Pod", "shop", admissionv1.Update, appPod(nil, nil)},
		{"not a pod", "Deployment", "shop", admissionv1.Create, appPod(nil, nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := review(t, srv, tc.kind, tc.op, tc.namespace, tc.pod)
			if !resp.Allowed || resp.Patch != nil {
				t.Errorf("want allowed without a patch, got %+v", resp)
			}
		})
	}
}

func TestWebhookRefusesAnAnnotationItCannotFollow(t *testing.T) {
	srv := newTestWebhook(t)
	resp, _ := review(t, srv, "Pod", admissionv1.Create, "shop", appPod(nil, map[string]string{ExcludeOutboundPorts: "postgres"}))
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, ExcludeOutboundPorts) {
		t.Errorf("want refused naming %s, got %+v", ExcludeOutboundPorts, resp)
	}
}

func TestWebhookRejectsBadRequests(t *testing.T) {
	srv := newTestWebhook(t)
	cases := []struct {
		name, method, contentType, body string
		code                            int
	}{
		{"GET", http.MethodGet, "application/json", "", http.StatusMethodNotAllowed},
		{"not JSON", http.MethodPost, "text/plain", "{}", http.StatusUnsupportedMediaType},
		{"no request", http.MethodPost, "application/json", `{"kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"garbage", http.MethodPost, "application/json", `{"request":`, http.StatusBadRequest},
		{"too large", http.MethodPost, "application/json", `{"x":"` + strings.Repeat("a", maxReviewBytes) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+Path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
}
