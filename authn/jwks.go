// Package authn holds what the control plane does to authenticate requests
// and workloads that needs I/O, and so cannot live in translate. For now:
// fetching the JSON Web Key Sets of RequestAuthentication rules.
package authn

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/pilotlight/pilotlight/discovery"
)

// Defaults of a JWKSResolver, Istio's where it has one.
const (
	// DefaultJWKSRefresh: istiod refreshes fetched keys every 20 minutes
	// (PILOT_JWT_PUB_KEY_REFRESH_INTERVAL).
	DefaultJWKSRefresh = 20 * time.Minute
	// DefaultJWKSRetry is how soon a failed fetch is tried again.
	DefaultJWKSRetry = 30 * time.Second
	// DefaultJWKSTimeout: a rule's timeout, when it sets none (Istio's 5s).
	DefaultJWKSTimeout = 5 * time.Second
	// DefaultJWKSMaxBytes bounds what one fetch reads: the far end is
	// whoever the URL names, and a key set is a few kilobytes.
	DefaultJWKSMaxBytes = 1 << 20
)

// JWKSOptions configure a JWKSResolver.
type JWKSOptions struct {
	Log *slog.Logger // nil means slog.Default()
	// Client fetches http(s) URLs; nil means a client with no redirect to
	// anything but http(s) (Go's default).
	Client *http.Client
	// Redirects send fetches of some URLs elsewhere (see Redirect).
	Redirects []Redirect
	// Refresh is how often keys that were fetched are fetched again;
	// Retry how soon a failed fetch is; MaxBytes bounds a response.
	Refresh, Retry time.Duration
	MaxBytes       int64
}

// JWKSResolver is the stage between discovery and the xDS server that
// inlines keys: Istio's istiod, not each Envoy, fetches the key sets of
// jwksUri (PILOT_JWT_ENABLE_REMOTE_JWKS=false), so proxies need no route
// to the issuer and tests and offline clusters can point the fetch
// elsewhere without editing the policy.
//
// For every snapshot handed to Update it fetches the key sets its rules
// need and not yet fetched, then publishes a copy of the snapshot that
// carries them (Snapshot.JWKS) and a Problem for each that failed, naming
// the URL and the error. A rule whose keys never arrived gets none in
// translation: its tokens are rejected (fail closed). In the background it
// refreshes the keys every Refresh and retries failures every Retry, and
// publishes again when what it holds changed. A refresh that fails keeps
// the keys fetched before (reported), as istiod does.
type JWKSResolver struct {
	opts  JWKSOptions
	log   *slog.Logger
	inbox chan *discovery.Snapshot

	mu      sync.Mutex
	entries map[string]*jwksEntry // by discovery.JWKSKey
}

// jwksEntry is what is known about one key set.
type jwksEntry struct {
	need    jwksNeed
	keys    string // the last key set fetched, "" if none yet
	err     error  // of the last fetch, nil if it succeeded
	fetched time.Time
	goodAt  time.Time // when keys were fetched
}

// NewJWKSResolver returns a resolver; Run makes it work.
func NewJWKSResolver(opts JWKSOptions) *JWKSResolver {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultJWKSRefresh
	}
	if opts.Retry <= 0 {
		opts.Retry = DefaultJWKSRetry
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultJWKSMaxBytes
	}
	return &JWKSResolver{opts: opts, log: opts.Log, inbox: make(chan *discovery.Snapshot, 1), entries: map[string]*jwksEntry{}}
}

// Update hands the resolver a new snapshot from discovery. It never
// blocks: a snapshot not yet taken is replaced by the newer one. Call it
// from one goroutine (a source's publish).
func (r *JWKSResolver) Update(snap *discovery.Snapshot) {
	select {
	case <-r.inbox:
	default:
	}
	r.inbox <- snap
}

// Run resolves and publishes until ctx is done.
func (r *JWKSResolver) Run(ctx context.Context, publish func(*discovery.Snapshot)) {
	var current *discovery.Snapshot
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case current = <-r.inbox:
			r.want(needs(current))
			r.fetchDue(ctx, time.Now(), true)
		case <-timer.C:
			if !r.fetchDue(ctx, time.Now(), false) {
				r.resetTimer(timer)
				continue
			}
		}
		publish(r.resolve(current))
		r.resetTimer(timer)
	}
}

// want makes the entries what the snapshot needs: new ones (not fetched
// yet) are added, those no rule uses any more are dropped.
func (r *JWKSResolver) want(need map[string]jwksNeed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, n := range need {
		if e := r.entries[key]; e != nil {
			e.need = n
			continue
		}
		r.entries[key] = &jwksEntry{need: n}
	}
	for key := range r.entries {
		if _, ok := need[key]; !ok {
			delete(r.entries, key)
		}
	}
}

// fetchDue fetches, side by side, the key sets due at now (all the new
// ones, and when not onlyNew, those whose refresh or retry time came), and
// reports whether any entry changed.
func (r *JWKSResolver) fetchDue(ctx context.Context, now time.Time, onlyNew bool) bool {
	r.mu.Lock()
	var due []string
	for key, e := range r.entries {
		if e.fetched.IsZero() || (!onlyNew && !now.Before(r.dueAt(e))) {
			due = append(due, key)
		}
	}
	needs := make([]jwksNeed, len(due))
	for i, key := range due {
		needs[i] = r.entries[key].need
	}
	r.mu.Unlock()

	results := make([]jwksResult, len(due))
	var wg sync.WaitGroup
	for i := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].keys, results[i].err = r.fetch(ctx, needs[i])
		}()
	}
	wg.Wait()

	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for i, key := range due {
		e := r.entries[key]
		if e == nil {
			continue
		}
		changed = changed || e.record(results[i], now, r.log, key)
	}
	return changed
}

type jwksResult struct {
	keys string
	err  error
}

// record keeps the result of a fetch: new keys replace the old ones; a
// failure keeps the old ones. It reports whether anything a snapshot
// shows (the keys, or the problem) changed, and logs when that is so.
func (e *jwksEntry) record(res jwksResult, now time.Time, log *slog.Logger, key string) bool {
	first := e.fetched.IsZero()
	before := e.problem()
	e.fetched = now
	if res.err == nil {
		changed := first || res.keys != e.keys || e.err != nil
		e.keys, e.err, e.goodAt = res.keys, nil, now
		if changed {
			log.Info("fetched JWKS", "url", key)
		}
		return changed
	}
	e.err = res.err
	changed := first || before != e.problem()
	if changed {
		log.Warn("fetching JWKS failed", "url", key, "err", res.err, "keeping earlier keys", e.keys != "")
	}
	return changed
}

func (r *JWKSResolver) dueAt(e *jwksEntry) time.Time {
	if e.err != nil {
		return e.fetched.Add(r.opts.Retry)
	}
	return e.fetched.Add(r.opts.Refresh)
}

// resetTimer sets the timer to the next refresh or retry, if any is due.
func (r *JWKSResolver) resetTimer(t *time.Timer) {
	r.mu.Lock()
	var next time.Time
	for _, e := range r.entries {
		if at := r.dueAt(e); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	r.mu.Unlock()
	t.Stop()
	if !next.IsZero() {
		t.Reset(time.Until(next))
	}
}

// resolve is the snapshot with the keys held and the fetch problems.
func (r *JWKSResolver) resolve(snap *discovery.Snapshot) *discovery.Snapshot {
	if snap == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := map[string]string{}
	var problems []discovery.Problem
	for key, e := range r.entries {
		if e.keys != "" {
			keys[key] = e.keys
		}
		if e.err == nil {
			continue
		}
		for _, use := range e.need.uses {
			problems = append(problems, discovery.Problem{
				Source: use.ra.Origin, Kind: "RequestAuthentication", Name: use.ra.Key(), Field: use.field,
				Reason: e.problem(),
			})
		}
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].String() < problems[j].String() })
	if len(keys) == 0 {
		keys = nil
	}
	return snap.WithJWKS(keys, problems)
}

// problem says what failed and what it means for tokens.
func (e *jwksEntry) problem() string {
	if e.err == nil {
		return ""
	}
	if e.keys != "" {
		return fmt.Sprintf("refreshing the JWKS failed: %v; the keys fetched at %s are kept", e.err, e.goodAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("fetching the JWKS failed: %v; tokens of this rule are rejected (401) until a fetch succeeds", e.err)
}
