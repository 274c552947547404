package load

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// saveProfile fetches one of the server's Go profiles (serve --pprof); a
// heap profile with gc=1 holds only what is live.
func saveProfile(t testing.TB, srv *server, name, path string) {
	t.Helper()
	if err := fetchProfile(srv, "/debug/pprof/"+name, path, time.Minute); err != nil {
		t.Fatalf("load: profile %s: %v", name, err)
	}
	t.Logf("load: %s profile in %s (go tool pprof %s)", name, path, path)
}

// startCPUProfile profiles the server's CPU for d, in the background; the
// function it returns waits for the profile.
func startCPUProfile(t testing.TB, srv *server, path string, d time.Duration) func() {
	return startFetch(t, srv, "CPU profile", "pprof", fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), path, d)
}

// startTrace records the server's execution trace for d (go tool trace).
func startTrace(t testing.TB, srv *server, path string, d time.Duration) func() {
	return startFetch(t, srv, "execution trace", "trace", fmt.Sprintf("/debug/pprof/trace?seconds=%d", int(d.Seconds())), path, d)
}

// startFetch fetches a profile that takes d to record, in the background.
func startFetch(t testing.TB, srv *server, what, tool, url, path string, d time.Duration) func() {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fetchProfile(srv, url, path, d+time.Minute) }()
	return func() {
		if err := <-done; err != nil {
			t.Errorf("load: %s: %v", what, err)
			return
		}
		t.Logf("load: %s in %s (go tool %s %s)", what, path, tool, path)
	}
}

func fetchProfile(srv *server, path, file string, timeout time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get("http://" + srv.httpAddr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", path, resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
