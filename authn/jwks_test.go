package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	security "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

const (
	keysA = `{"keys":[{"kty":"RSA","kid":"a","e":"AQAB","n":"abc"}]}`
	keysB = `{"keys":[{"kty":"RSA","kid":"b","e":"AQAB","n":"def"}]}`
)

// keyServer is a JWKS endpoint on loopback whose answer a test changes.
type keyServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   string
	status int
	hits   int
}

func newKeyServer(t *testing.T, body string) *keyServer {
	s := &keyServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.hits++
		if r.URL.Path == discovery.OpenIDConfigurationPath {
			_, _ = w.Write([]byte(`{"issuer":"x","jwks_uri":"` + s.URL + `/keys.json"}`))
			return
		}
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *keyServer) fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func (s *keyServer) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// snapshotWith is a snapshot of one RequestAuthentication with these rules.
func snapshotWith(rules ...*security.JWTRule) *discovery.Snapshot {
	return (&discovery.Snapshot{RequestAuthentications: []*discovery.RequestAuthentication{{
		Meta:   discovery.Meta{Kind: "RequestAuthentication", Name: "jwt", Namespace: "shop"},
		Spec:   &security.RequestAuthentication{JwtRules: rules},
		Origin: "jwt.yaml#0",
	}}}).Seal()
}

// stage runs a resolver and collects what it publishes.
type stage struct {
	r   *JWKSResolver
	out chan *discovery.Snapshot
}

func startStage(t *testing.T, opts JWKSOptions) *stage {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &stage{r: NewJWKSResolver(opts), out: make(chan *discovery.Snapshot, 16)}
	done := make(chan struct{})
	go func() { defer close(done); s.r.Run(ctx, func(snap *discovery.Snapshot) { s.out <- snap }) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// next waits for the next published snapshot.
func (s *stage) next(t *testing.T) *discovery.Snapshot {
	t.Helper()
	select {
	case snap := <-s.out:
		return snap
	case <-time.After(10 * time.Second):
		t.Fatal("the resolver published nothing")
		return nil
	}
}

func problemsOf(snap *discovery.Snapshot) string {
	var out []string
	for _, p := range snap.Problems {
		out = append(out, p.String())
	}
	return strings.Join(out, "\n")
}

// TestJWKSFetchedAndInlined: a jwksUri's key set is fetched once and
// published in the snapshot, with no problem, the input left as it was.
func TestJWKSFetchedAndInlined(t *testing.T) {
	srv := newKeyServer(t, keysA)
	s := startStage(t, JWKSOptions{})
	in := snapshotWith(&security.JWTRule{Issuer: "i", JwksUri: srv.URL + "/keys.json"})
	s.r.Update(in)
	out := s.next(t)
	if got := out.JWKS[srv.URL+"/keys.json"]; got != keysA {
		t.Fatalf("JWKS %q, want the served key set", got)
	}
	if len(out.Problems) > 0 || in.JWKS != nil {
		t.Errorf("problems %q; input JWKS %v (must stay unset)", problemsOf(out), in.JWKS)
	}
	s.r.Update(in) // the same rules again: nothing new to fetch
	if out := s.next(t); out.JWKS[srv.URL+"/keys.json"] != keysA || srv.fetches() != 1 {
		t.Errorf("second snapshot: keys %q after %d fetches, want the cached set after 1", out.JWKS, srv.fetches())
	}
	// No rule left: the snapshot passes through, the key set is dropped.
	if out := s.handOver(t, snapshotWith()); out.JWKS != nil || len(out.Problems) > 0 {
		t.Errorf("without rules: JWKS %v, problems %q", out.JWKS, problemsOf(out))
	}
}

// handOver hands the stage a snapshot and waits for what it publishes.
func (s *stage) handOver(t *testing.T, in *discovery.Snapshot) *discovery.Snapshot {
	t.Helper()
	s.r.Update(in)
	return s.next(t)
}

// TestJWKSFailsClosedThenRecovers: a key set that cannot be fetched is
// left out (so translation rejects its tokens) and reported with the URL
// and the error; once the server answers, a retry brings the keys.
func TestJWKSFailsClosedThenRecovers(t *testing.T) {
	srv := newKeyServer(t, keysA)
	srv.set(http.StatusServiceUnavailable, "down")
	s := startStage(t, JWKSOptions{Retry: 50 * time.Millisecond})
	url := srv.URL + "/keys.json"
	s.r.Update(snapshotWith(&security.JWTRule{Issuer: "i", JwksUri: url}))
	out := s.next(t)
	if _, ok := out.JWKS[url]; ok {
		t.Fatalf("keys published for a failed fetch: %v", out.JWKS)
	}
	want := "jwt.yaml#0: RequestAuthentication shop/jwt: spec.jwtRules[0].jwksUri: fetching the JWKS failed: " + url + ": HTTP status 503 Service Unavailable; tokens of this rule are rejected (401) until a fetch succeeds"
	if problemsOf(out) != want {
		t.Fatalf("problems:\n%s\nwant:\n%s", problemsOf(out), want)
	}
	srv.set(http.StatusOK, keysA)
	out = s.next(t)
	if out.JWKS[url] != keysA || len(out.Problems) > 0 {
		t.Errorf("after recovery: keys %v, problems %q", out.JWKS, problemsOf(out))
	}
}

// TestJWKSRefresh: keys are fetched again every Refresh; new keys are
// published, and a failed refresh keeps the keys fetched before (reported).
func TestJWKSRefresh(t *testing.T) {
	srv := newKeyServer(t, keysA)
	s := startStage(t, JWKSOptions{Refresh: 50 * time.Millisecond, Retry: 50 * time.Millisecond})
	url := srv.URL + "/keys.json"
	s.r.Update(snapshotWith(&security.JWTRule{Issuer: "i", JwksUri: url}))
	if out := s.next(t); out.JWKS[url] != keysA {
		t.Fatalf("keys %v", out.JWKS)
	}
	srv.set(http.StatusOK, keysB)
	if out := s.next(t); out.JWKS[url] != keysB {
		t.Fatalf("after the keys rotated: %v", out.JWKS)
	}
	srv.set(http.StatusNotFound, "gone")
	out := s.next(t)
	if out.JWKS[url] != keysB || !strings.Contains(problemsOf(out), "refreshing the JWKS failed: "+url+": HTTP status 404 Not Found; the keys fetched at") {
		t.Errorf("after a failed refresh: keys %v, problems %q", out.JWKS, problemsOf(out))
	}
}

// TestJWKSRedirects: a redirect sends a public URL to a local folder or a
// loopback server, the policy unchanged; a file outside the folder is
// never read.
func TestJWKSRedirects(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "release-1.24"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "release-1.24", "jwks.json"), []byte(keysA), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := newKeyServer(t, keysB)
	const public = "https://raw.githubusercontent.com/istio/istio/"
	r := NewJWKSResolver(JWKSOptions{Redirects: []Redirect{
		{Prefix: public, Target: "file://" + dir + "/"},
		{Prefix: "https://keys.example/", Target: srv.URL + "/"},
		{Prefix: "https://keys.example/exact.json", Target: filepath.Join(dir, "release-1.24", "jwks.json")},
	}})
	cases := []struct{ url, want, err string }{
		{public + "release-1.24/jwks.json", keysA, ""},
		{public + "release-1.24/jwks.json?ref=main", keysA, ""},
		{"https://keys.example/any/path.json", keysB, ""},
		{"https://keys.example/exact.json", keysA, ""}, // the longest prefix wins
		{public + "../../etc/passwd", "", "redirected to file://" + dir},
		{public + "missing.json", "", "no such file"},
	}
	for _, c := range cases {
		got, err := r.fetch(context.Background(), jwksNeed{url: c.url, timeout: time.Second})
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %q, %v; want %q", c.url, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one containing %q", c.url, err, c.err)
		}
	}
}

// TestJWKSFetchChecks: an issuer without jwksUri is looked up by OpenID
// discovery; what is not a key set, or is too large, is refused.
func TestJWKSFetchChecks(t *testing.T) {
	srv := newKeyServer(t, keysA)
	r := NewJWKSResolver(JWKSOptions{MaxBytes: 100})
	if got, err := r.fetch(context.Background(), jwksNeed{url: srv.URL + discovery.OpenIDConfigurationPath, openID: true, timeout: time.Second}); err != nil || got != keysA {
		t.Errorf("OpenID discovery: %q, %v", got, err)
	}
	srv.set(http.StatusOK, `<html>not keys</html>`)
	if _, err := r.fetch(context.Background(), jwksNeed{url: srv.URL + "/k", timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "not a JSON Web Key Set") {
		t.Errorf("an HTML page: %v", err)
	}
	srv.set(http.StatusOK, `{"keys":[`+strings.Repeat(`{"kty":"RSA"},`, 20)+`{"kty":"RSA"}]}`)
	if _, err := r.fetch(context.Background(), jwksNeed{url: srv.URL + "/k", timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("a large answer: %v", err)
	}
}

// TestJWKSNeeds: inline keys need no fetch; rules sharing a URL share one
// fetch, with the longest timeout, and each is reported on its own field.
func TestJWKSNeeds(t *testing.T) {
	snap := snapshotWith(
		&security.JWTRule{Issuer: "a", Jwks: keysA},
		&security.JWTRule{Issuer: "b", JwksUri: "https://k/jwks"},
		&security.JWTRule{Issuer: "c", JwksUri: "https://k/jwks", Timeout: durationpb.New(9 * time.Second)},
		&security.JWTRule{Issuer: "https://oidc.example"},
	)
	got := needs(snap)
	if len(got) != 2 {
		t.Fatalf("needs %v, want 2 URLs", got)
	}
	k := got["https://k/jwks"]
	if k.timeout != 9*time.Second || len(k.uses) != 2 || k.uses[1].field != "spec.jwtRules[2].jwksUri" || k.openID {
		t.Errorf("https://k/jwks: %+v", k)
	}
	o := got["https://oidc.example"+discovery.OpenIDConfigurationPath]
	if !o.openID || o.uses[0].field != "spec.jwtRules[3].issuer" || o.timeout != DefaultJWKSTimeout {
		t.Errorf("OpenID: %+v", o)
	}
}

func TestParseRedirect(t *testing.T) {
	if r, err := ParseRedirect("https://a/=file:///srv/keys/"); err != nil || r.Prefix != "https://a/" || r.Target != "file:///srv/keys/" {
		t.Errorf("ParseRedirect: %+v, %v", r, err)
	}
	for _, bad := range []string{"https://a/", "=file:///x", "https://a/=relative/dir", "https://a/=ftp://x"} {
		if _, err := ParseRedirect(bad); err == nil {
			t.Errorf("ParseRedirect(%q): want an error", bad)
		}
	}
}

// TestJWKSRefreshDoesNotHoldUpSnapshots: a refresh that hangs (a dead
// issuer) runs aside: snapshots from discovery are still published, with
// the keys fetched before.
func TestJWKSRefreshDoesNotHoldUpSnapshots(t *testing.T) {
	release, hanging := make(chan struct{}), make(chan struct{}, 1)
	var mu sync.Mutex
	hang := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hang
		mu.Unlock()
		if h {
			select {
			case hanging <- struct{}{}:
			default:
			}
			<-release
		}
		_, _ = w.Write([]byte(keysA))
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	s := startStage(t, JWKSOptions{Refresh: 20 * time.Millisecond})
	rule := &security.JWTRule{Issuer: "i", JwksUri: srv.URL + "/keys.json", Timeout: durationpb.New(time.Minute)}
	if out := s.handOver(t, snapshotWith(rule)); out.JWKS[srv.URL+"/keys.json"] != keysA {
		t.Fatalf("keys %v", out.JWKS)
	}
	mu.Lock()
	hang = true
	mu.Unlock()
	<-hanging // a refresh is under way and will not end
	next := snapshotWith(rule)
	next.Version = 2
	if out := s.handOver(t, next); out.Version != 2 || out.JWKS[srv.URL+"/keys.json"] != keysA {
		t.Errorf("published version %d with keys %v, want version 2 with the keys fetched before", out.Version, out.JWKS)
	}
}

// TestJWKSSeveralKeySets: every key set of a batch is recorded.
func TestJWKSSeveralKeySets(t *testing.T) {
	a, b := newKeyServer(t, keysA), newKeyServer(t, keysB)
	s := startStage(t, JWKSOptions{})
	out := s.handOver(t, snapshotWith(
		&security.JWTRule{Issuer: "a", JwksUri: a.URL + "/k"},
		&security.JWTRule{Issuer: "b", JwksUri: b.URL + "/k"},
	))
	if out.JWKS[a.URL+"/k"] != keysA || out.JWKS[b.URL+"/k"] != keysB {
		t.Errorf("JWKS %v, want both key sets", out.JWKS)
	}
}
