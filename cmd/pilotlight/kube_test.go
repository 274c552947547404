package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/pilotlight/pilotlight/discovery/kube"
	"github.com/pilotlight/pilotlight/xds"
)

func TestCheckSource(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	cases := []struct {
		name      string
		f         serveFlags
		inCluster bool
		ok        bool
	}{
		{"folder", serveFlags{configDir: "mesh"}, false, true},
		{"kubeconfig", serveFlags{kube: kubeFlags{kubeconfig: "kc"}}, false, true},
		{"in a pod", serveFlags{}, true, true},
		{"nothing", serveFlags{}, false, false},
		{"both", serveFlags{configDir: "mesh", kube: kubeFlags{kubeconfig: "kc"}}, false, false},
	}
	for _, tc := range cases {
		if tc.inCluster {
			t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
		} else {
			os.Unsetenv("KUBERNETES_SERVICE_HOST")
		}
		if err := tc.f.checkSource(); (err == nil) != tc.ok {
			t.Errorf("%s: checkSource() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestLeaseDefaults(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	if ns := (kubeFlags{}).leaseNamespace(); ns != "pilotlight-system" {
		t.Errorf("lease namespace = %q, want pilotlight-system", ns)
	}
	t.Setenv("POD_NAMESPACE", "mesh")
	if ns := (kubeFlags{}).leaseNamespace(); ns != "mesh" {
		t.Errorf("lease namespace = %q, want $POD_NAMESPACE", ns)
	}
	if id := (kubeFlags{}).identityOrDefault(); id == "" {
		t.Error("empty default identity")
	}
}

func TestKubeModeEndpoints(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	src, err := kube.New(kube.Options{Kube: kubefake.NewClientset(), Istio: istiofake.NewSimpleClientset(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	m := &kubeMode{source: src, identity: "replica-a"} // no election: this replica leads
	server := xds.NewServer(context.Background(), xds.Options{Log: log, Registry: prometheus.NewRegistry()})
	h := m.handler(debugMux(server, &rateLimitXDS{}, prometheus.NewRegistry()), server)

	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	if rec := get("/readyz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the informers synced: %d", rec.Code)
	}
	var leader struct {
		Identity string `json:"identity"`
		Leader   bool   `json:"leader"`
	}
	rec := get("/debug/leader")
	if err := json.Unmarshal(rec.Body.Bytes(), &leader); err != nil || leader.Identity != "replica-a" || !leader.Leader {
		t.Errorf("/debug/leader = %d %s", rec.Code, rec.Body)
	}
	if rec := get("/healthz"); rec.Code != http.StatusOK {
		t.Errorf("/healthz through the kube handler: %d", rec.Code)
	}
}
