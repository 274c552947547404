package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pilotlight/pilotlight/discovery/discoverytest"
	"github.com/pilotlight/pilotlight/xds"
)

// TestServeMissingFolder: serve names the folder and returns before it
// listens (it would block otherwise).
func TestServeMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nonexistent")
	cmd := serveCommand()
	cmd.SetArgs([]string{"--config-dir", dir, "--xds-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "error",
		"--state-dir", t.TempDir()})
	cmd.SetOut(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--config-dir") {
		t.Errorf("serve = %v, want an error naming --config-dir %s", err, dir)
	}
}

// TestFolderModeReadiness: /readyz fails, and the watched gauge is 0, while
// the config folder is gone; both recover when it is back.
func TestFolderModeReadiness(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "mesh")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	m, err := newFolderMode(serveFlags{configDir: dir}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	server := xds.NewServer(ctx, xds.Options{Log: log, Registry: prometheus.NewRegistry()})
	go server.Run(ctx)
	done := make(chan error, 1)
	go func() { done <- m.run(ctx, server.Update) }()
	t.Cleanup(func() { cancel(); <-done })
	h := m.handler(debugMux(server, &rateLimitXDS{}, reg), server)

	readyz := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	watched := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(line, "pilotlight_config_folder_watched ") {
				return strings.TrimPrefix(line, "pilotlight_config_folder_watched ")
			}
		}
		return "missing"
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (readyz %d, watched %s)", what, readyz(), watched())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("ready", func() bool { return readyz() == http.StatusOK && watched() == "1" })
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor("not ready once the folder is gone", func() bool { return readyz() == http.StatusServiceUnavailable && watched() == "0" })
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor("ready once the folder is back", func() bool { return readyz() == http.StatusOK && watched() == "1" })
}

// TestBootstrapRejectsBadAddresses: what Envoy would fail on later is an
// error now, naming the flag.
func TestBootstrapRejectsBadAddresses(t *testing.T) {
	cases := []struct {
		args []string
		flag string
	}{
		{[]string{"--pod", "a", "--pod-ip", "notanip"}, "--pod-ip"},
		{[]string{"--pod", "a", "--pod-ip", "10.0.0.1 "}, "--pod-ip"},
		{[]string{"--pod", "a", "--pod-ip", "999.1.1.1"}, "--pod-ip"},
		{[]string{"--pod", "a", "--pod-ip", "10.0.0.1", "--local-address", "foo"}, "--local-address"},
		{[]string{"--pod", "A b", "--pod-ip", "10.0.0.1"}, "--pod"},
		{[]string{"--pod", "a", "--pod-ip", "10.0.0.1", "--admin-port", "70000"}, "--admin-port"},
		{[]string{"--pod", "a", "--pod-ip", "10.0.0.1", "--xds-addr", "localhost"}, "--xds-addr"},
	}
	for _, tc := range cases {
		cmd := bootstrapCommand()
		cmd.SetArgs(tc.args)
		cmd.SetOut(io.Discard)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("bootstrap %v = %v, want an error about %s", tc.args, err, tc.flag)
		}
	}
	cert, _ := discoverytest.SelfSigned(t, "root")
	state := t.TempDir()
	root, token := filepath.Join(state, "root-cert.pem"), filepath.Join(state, "token")
	for path, content := range map[string][]byte{root: cert, token: []byte("a-token")} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := bootstrapCommand()
	var out bytes.Buffer
	cmd.SetArgs([]string{"--pod", "a", "--pod-ip", "10.0.0.1", "--local-address", "127.20.0.1",
		"--state-dir", state, "--root-cert", root, "--token-file", token})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil || !strings.Contains(out.String(), "PILOTLIGHT_VERSION") {
		t.Errorf("bootstrap = %v, node metadata in:\n%s", err, out.String())
	}
}

// TestVersionIsEverywhere: --version, /debug and pilotlight_build_info.
func TestVersionIsEverywhere(t *testing.T) {
	v := buildVersion()
	if v == "" {
		t.Fatal("empty version")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfo())
	server := xds.NewServer(context.Background(), xds.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	h := debugMux(server, &rateLimitXDS{}, reg)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug", nil))
	var debug struct{ Version string }
	if err := json.Unmarshal(rec.Body.Bytes(), &debug); err != nil || debug.Version != v {
		t.Errorf("/debug = %s, want version %s", rec.Body, v)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `pilotlight_build_info{goversion="`) || !strings.Contains(rec.Body.String(), `version="`+v+`"} 1`) {
		t.Errorf("/metrics has no pilotlight_build_info with version %s", v)
	}
}
