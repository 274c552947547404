package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pilotlight/pilotlight/discovery"
)

// Redirect sends the fetch of every URL that starts with Prefix to Target
// instead, with the rest of the URL appended: a local folder (file:///dir
// or an absolute path) or another base URL (http://127.0.0.1:8080/keys/).
// So a policy written for a public issuer works unchanged in an offline
// cluster or a test:
//
//	https://raw.githubusercontent.com/istio/istio/=file:///srv/jwks/
//	  https://raw.githubusercontent.com/istio/istio/release-1.24/x/jwks.json
//	  is read from /srv/jwks/release-1.24/x/jwks.json
type Redirect struct {
	Prefix, Target string
}

// ParseRedirect reads "PREFIX=TARGET" (split at the first "=").
func ParseRedirect(s string) (Redirect, error) {
	prefix, target, ok := strings.Cut(s, "=")
	switch {
	case !ok || prefix == "" || target == "":
		return Redirect{}, fmt.Errorf("%q: want PREFIX=TARGET", s)
	case !strings.HasPrefix(target, "file://") && !filepath.IsAbs(target) &&
		!strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://"):
		return Redirect{}, fmt.Errorf("%q: the target must be file:///DIR, an absolute path, or an http(s) URL", s)
	}
	return Redirect{Prefix: prefix, Target: target}, nil
}

// jwksNeed is one key set the snapshot's rules need, and which rules.
type jwksNeed struct {
	url string
	// openID: url is the issuer's OpenID discovery document, whose jwks_uri
	// names the key set (a rule with neither jwksUri nor jwks).
	openID  bool
	timeout time.Duration
	uses    []jwksUse
}

// jwksUse is a rule that uses a key set: its object, and the field a
// failure is reported on.
type jwksUse struct {
	ra    *discovery.RequestAuthentication
	field string
}

// needs lists the key sets the snapshot's RequestAuthentications fetch,
// by discovery.JWKSKey.
func needs(snap *discovery.Snapshot) map[string]jwksNeed {
	out := map[string]jwksNeed{}
	for _, ra := range snap.RequestAuthentications {
		for i, rule := range ra.Spec.GetJwtRules() {
			key := discovery.JWKSKey(rule)
			if key == "" {
				continue
			}
			n := out[key]
			n.url, n.openID = key, rule.GetJwksUri() == ""
			field := fmt.Sprintf("spec.jwtRules[%d].jwksUri", i)
			if n.openID {
				field = fmt.Sprintf("spec.jwtRules[%d].issuer", i)
			}
			n.uses = append(n.uses, jwksUse{ra: ra, field: field})
			timeout := DefaultJWKSTimeout
			if rule.GetTimeout() != nil {
				timeout = rule.GetTimeout().AsDuration()
			}
			n.timeout = max(n.timeout, timeout)
			out[key] = n
		}
	}
	return out
}

// fetch gets and checks one key set.
func (r *JWKSResolver) fetch(ctx context.Context, n jwksNeed) (string, error) {
	url := n.url
	if n.openID {
		doc, err := r.get(ctx, url, n.timeout)
		if err != nil {
			return "", err
		}
		var meta struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(doc, &meta); err != nil || meta.JWKSURI == "" {
			return "", fmt.Errorf("%s: not an OpenID provider configuration with a jwks_uri", url)
		}
		if err := discovery.CheckJWKSURI(meta.JWKSURI); err != nil {
			return "", fmt.Errorf("%s: jwks_uri: %v", url, err)
		}
		url = meta.JWKSURI
	}
	keys, err := r.get(ctx, url, n.timeout)
	if err != nil {
		return "", err
	}
	if err := discovery.CheckJWKS(keys); err != nil {
		return "", fmt.Errorf("%s: %v", url, err)
	}
	return string(keys), nil
}

// get reads one URL, or what a redirect sends it to, at most MaxBytes.
func (r *JWKSResolver) get(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	target, redirected := r.redirect(url)
	describe := url
	if redirected {
		describe = fmt.Sprintf("%s (redirected to %s)", url, target)
	}
	var data []byte
	var err error
	if path, ok := localPath(target); ok {
		data, err = r.readFile(path)
	} else {
		data, err = r.download(ctx, target, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe, err)
	}
	return data, nil
}

// redirect applies the longest matching Redirect.
func (r *JWKSResolver) redirect(url string) (string, bool) {
	best := -1
	for i, rd := range r.opts.Redirects {
		if strings.HasPrefix(url, rd.Prefix) && (best < 0 || len(rd.Prefix) > len(r.opts.Redirects[best].Prefix)) {
			best = i
		}
	}
	if best < 0 {
		return url, false
	}
	rd := r.opts.Redirects[best]
	rest := strings.TrimPrefix(url, rd.Prefix)
	if _, ok := localPath(rd.Target); ok {
		// A file has no query.
		rest, _, _ = strings.Cut(rest, "?")
		return localTarget(rd.Target, rest), true
	}
	return rd.Target + rest, true
}

// localTarget joins the rest of a URL to a folder, never leaving it.
func localTarget(target, rest string) string {
	dir, _ := localPath(target)
	dir = filepath.Clean(dir)
	path := filepath.Join(dir, filepath.FromSlash(rest))
	if path != dir && !strings.HasPrefix(path, dir+string(filepath.Separator)) {
		path = dir // ".." out of the folder: read the folder itself, which fails
	}
	return "file://" + path
}

// localPath is the file a target names, if it names one.
func localPath(target string) (string, bool) {
	if p, ok := strings.CutPrefix(target, "file://"); ok {
		return p, true
	}
	return target, filepath.IsAbs(target)
}

func (r *JWKSResolver) readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, r.opts.MaxBytes)
}

func (r *JWKSResolver) download(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	return readLimited(resp.Body, r.opts.MaxBytes)
}

var errTooLarge = errors.New("response too large for a key set")

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w (more than %d bytes)", errTooLarge, limit)
	}
	return data, nil
}
