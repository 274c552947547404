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

	// entries: what is known of each key set, by discovery.JWKSKey. Only
	// Run's goroutine touches them.
	entries map[string]*jwksEntry
}

// jwksEntry is what is known about one key set.
type jwksEntry struct {
	need    jwksNeed
	keys    string // the last key set fetched, "" if none yet
	err     error  // of the last fetch, nil if it succeeded
	fetched time.Time
	goodAt  time.Time // when keys were fetched
	// inFlight: a refresh or retry is under way.
	inFlight bool
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

// Run resolves and publishes until ctx is done. A new snapshot waits for
// the key sets it needs and no snapshot needed before (at most a rule's
// timeout); refreshes and retries run aside, so that a slow or dead issuer
// never holds up what discovery publishes, and their results are
// published when they change what the snapshot carries.
func (r *JWKSResolver) Run(ctx context.Context, publish func(*discovery.Snapshot)) {
	var current *discovery.Snapshot
	refreshed := make(chan jwksBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case current = <-r.inbox:
			r.want(needs(current))
			r.record(r.fetchAll(ctx, r.unfetched()))
			publish(r.resolve(current))
		case <-timer.C:
			if due := r.due(time.Now()); len(due.keys) > 0 {
				go func() {
					select {
					case refreshed <- r.fetchAll(ctx, due):
					case <-ctx.Done():
					}
				}()
			}
		case b := <-refreshed:
			if r.record(b) && current != nil {
				publish(r.resolve(current))
			}
		}
		r.resetTimer(timer)
	}
}

// want makes the entries what the snapshot needs: new ones (not fetched
// yet) are added, those no rule uses any more are dropped.
func (r *JWKSResolver) want(need map[string]jwksNeed) {
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

// jwksBatch is a set of key sets to fetch, and what the fetches gave.
type jwksBatch struct {
	keys    []string
	needs   []jwksNeed
	results []jwksResult
	at      time.Time
}

// unfetched are the entries never fetched.
func (r *JWKSResolver) unfetched() jwksBatch {
	var b jwksBatch
	for key, e := range r.entries {
		if e.fetched.IsZero() && !e.inFlight {
			b.add(key, e)
		}
	}
	return b
}

// due are the entries whose refresh or retry time has come; they are
// marked in flight until their results are recorded.
func (r *JWKSResolver) due(now time.Time) jwksBatch {
	var b jwksBatch
	for key, e := range r.entries {
		if !e.inFlight && !e.fetched.IsZero() && !now.Before(r.dueAt(e)) {
			e.inFlight = true
			b.add(key, e)
		}
	}
	return b
}

func (b *jwksBatch) add(key string, e *jwksEntry) {
	b.keys = append(b.keys, key)
	b.needs = append(b.needs, e.need)
}

// fetchAll fetches the batch's key sets side by side.
func (r *JWKSResolver) fetchAll(ctx context.Context, b jwksBatch) jwksBatch {
	b.results = make([]jwksResult, len(b.keys))
	var wg sync.WaitGroup
	for i := range b.keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.results[i].keys, b.results[i].err = r.fetch(ctx, b.needs[i])
		}()
	}
	wg.Wait()
	b.at = time.Now()
	return b
}

// record keeps a batch's results and reports whether anything a snapshot
// shows changed. Entries dropped meanwhile are left dropped.
func (r *JWKSResolver) record(b jwksBatch) bool {
	changed := false
	for i, key := range b.keys {
		if e := r.entries[key]; e != nil && e.record(b.results[i], b.at, r.log, key) {
			changed = true
		}
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
	e.inFlight = false
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
	var next time.Time
	for _, e := range r.entries {
		if e.inFlight || e.fetched.IsZero() {
			continue
		}
		if at := r.dueAt(e); next.IsZero() || at.Before(next) {
			next = at
		}
	}
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
