package xds

import (
	"bytes"
	"context"
	"sync"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/translate"
)

// Workload certificates. Every proven proxy (auth.go) gets two SDS secrets
// on its own stream, in its view only, never in a shared resource:
//
//	default  its key and certificate, with the SPIFFE ID of the service
//	         account it proved (spiffe://TD/ns/NS/sa/SA)
//	ROOTCA   the mesh's roots
//
// The key is made here, by the CA: there is no agent beside Envoy to make
// a CSR. At half its life the certificate is replaced by a new key and
// certificate, pushed as a new version of "default" (renewals below); Envoy
// uses it for new connections and keeps the open ones, so no request fails.

// CertificateAuthority issues workload certificates. authn.CA satisfies it.
type CertificateAuthority interface {
	IssueWorkload(id authn.Identity, ttl time.Duration) (*authn.Certificate, error)
	RootsPEM() []byte
}

// workloadSecrets holds the current certificate of every proven node.
type workloadSecrets struct {
	ca     CertificateAuthority
	ttl    time.Duration
	issued prometheus.Counter

	mu     sync.Mutex
	byNode map[string]*workloadCert
	// firstDue is the earliest RenewAt of byNode's certificates (zero when
	// it holds none): renewDue looks at each of thousands only from then.
	firstDue time.Time
	// roots is the ROOTCA secret: one message for every proxy, so that it is
	// marshaled once per mesh snapshot.
	rootsPEM []byte
	roots    *tlsv3.Secret
}

type workloadCert struct {
	identity authn.Identity
	cert     *authn.Certificate
	secret   *tlsv3.Secret
}

func newWorkloadSecrets(ca CertificateAuthority, ttl time.Duration, reg prometheus.Registerer) *workloadSecrets {
	if ttl <= 0 {
		ttl = authn.DefaultWorkloadCertTTL
	}
	w := &workloadSecrets{ca: ca, ttl: ttl, byNode: map[string]*workloadCert{},
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilotlight_workload_certificates_issued_total",
			Help: "Workload certificates (and keys) issued to proven proxies, renewals included.",
		})}
	reg.MustRegister(w.issued)
	return w
}

// secretsFor returns a node's default and ROOTCA secrets, issuing its
// certificate on first use (or when its identity changed).
func (w *workloadSecrets) secretsFor(nodeID string, id authn.Identity) ([]*tlsv3.Secret, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := w.byNode[nodeID]
	if cur == nil || cur.identity != id {
		var err error
		if cur, err = w.issue(id); err != nil {
			return nil, err
		}
		w.byNode[nodeID] = cur
		w.firstDue = earlier(w.firstDue, cur.cert.RenewAt())
	}
	return []*tlsv3.Secret{cur.secret, w.rootsSecret()}, nil
}

// renewDue replaces the certificates that are at least half-way through
// their life and returns the new "default" secret of each node renewed
// (ROOTCA does not change with them).
func (w *workloadSecrets) renewDue(now time.Time) (map[string]*tlsv3.Secret, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]*tlsv3.Secret{}
	if w.firstDue.IsZero() || now.Before(w.firstDue) {
		return out, nil // none is due: not one of them is looked at
	}
	var firstDue time.Time
	for nodeID, cur := range w.byNode {
		if now.Before(cur.cert.RenewAt()) {
			firstDue = earlier(firstDue, cur.cert.RenewAt())
			continue
		}
		next, err := w.issue(cur.identity)
		if err != nil {
			return out, err // firstDue stays: the next check tries again
		}
		w.byNode[nodeID] = next
		out[nodeID] = next.secret
		firstDue = earlier(firstDue, next.cert.RenewAt())
	}
	w.firstDue = firstDue
	return out, nil
}

// earlier is the earlier of two times, zero meaning none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func (w *workloadSecrets) issue(id authn.Identity) (*workloadCert, error) {
	cert, err := w.ca.IssueWorkload(id, w.ttl)
	if err != nil {
		return nil, err
	}
	w.issued.Inc()
	return &workloadCert{identity: id, cert: cert, secret: translate.WorkloadCertSecret(cert.ChainPEM, cert.KeyPEM)}, nil
}

// rootsSecret is ROOTCA, rebuilt only when the CA's roots change.
func (w *workloadSecrets) rootsSecret() *tlsv3.Secret {
	if roots := w.ca.RootsPEM(); w.roots == nil || !bytes.Equal(roots, w.rootsPEM) {
		w.rootsPEM, w.roots = roots, translate.RootCASecret(roots)
	}
	return w.roots
}

// current is a node's certificate, nil when it has none.
func (w *workloadSecrets) current(nodeID string) *authn.Certificate {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.byNode[nodeID]; c != nil {
		return c.cert
	}
	return nil
}

func (w *workloadSecrets) forget(nodeID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.byNode, nodeID)
}

// renewCheckInterval is how often renewals are looked for: often enough
// that a certificate is replaced soon after half its life, even a short
// one in a test.
func renewCheckInterval(ttl time.Duration) time.Duration {
	return min(time.Second, max(ttl/50, 10*time.Millisecond))
}

// runRenewals pushes renewed certificates until ctx is done.
func (s *Server) runRenewals(ctx context.Context) {
	if s.secrets == nil {
		return
	}
	tick := time.NewTicker(renewCheckInterval(s.secrets.ttl))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.renewCertificates()
		}
	}
}

// renewCertificates issues the certificates that are due and pushes each
// renewed proxy a view whose only change is its "default" secret.
func (s *Server) renewCertificates() {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	renewed, err := s.secrets.renewDue(s.now())
	if err != nil {
		s.log.Error("cannot renew workload certificates; retrying", "error", err)
	}
	if len(renewed) == 0 {
		return
	}
	start := time.Now()
	// Not the snapshot's memo: each renewed secret is one proxy's, and the
	// memo would keep every renewal until the next mesh change.
	memo := newMarshalMemo(s.problemLog())
	views := s.cache.Nodes()
	for nodeID, secret := range renewed {
		old := views[nodeID]
		if old == nil {
			continue // its first view, being built, gets the new certificate
		}
		next, err := old.withSecrets(s.opts.VersionPrefix, memo, []*tlsv3.Secret{secret})
		if err != nil {
			s.log.Error("cannot push a renewed certificate", "node", nodeID, "error", err)
			continue
		}
		s.cache.SetView(nodeID, next)
	}
	s.metrics.pushDuration.WithLabelValues("certificates").Observe(time.Since(start).Seconds())
	s.log.Info("renewed workload certificates", "proxies", len(renewed), "took", time.Since(start))
}

// withWorkloadSecrets adds a proven node's default and ROOTCA secrets to
// its translated resources.
func (s *Server) withWorkloadSecrets(nodeID string, res *translate.Resources) error {
	if s.secrets == nil {
		return nil
	}
	id, ok := s.auth.identity(nodeID)
	if !ok {
		return nil // no open stream proved it: no key for it
	}
	secrets, err := s.secrets.secretsFor(nodeID, id)
	if err != nil {
		return err
	}
	res.Secrets = append(append([]*tlsv3.Secret{}, res.Secrets...), secrets...)
	return nil
}

// withSecrets is a view whose secrets of the same names are replaced: the
// fast path of a renewal, which changes nothing else.
func (v *View) withSecrets(prefix string, memo *marshalMemo, replace []*tlsv3.Secret) (*View, error) {
	replaced := map[string]bool{}
	var resources []*Resource
	for _, sec := range replace {
		r, err := memo.resource(sec.GetName(), proto.Message(sec))
		if err != nil {
			return nil, err
		}
		replaced[sec.GetName()] = true
		resources = append(resources, r)
	}
	if old := v.Types[resourcev3.SecretType]; old != nil {
		for name, r := range old.Resources {
			if !replaced[name] {
				resources = append(resources, r)
			}
		}
	}
	next := &View{Proxy: v.Proxy, Types: make(map[string]*TypeView, len(v.Types)), Patches: v.Patches}
	for t, tv := range v.Types {
		next.Types[t] = tv
	}
	next.Types[resourcev3.SecretType] = newTypeView(prefix, resources)
	return next, nil
}

// meshOptions are the mesh-wide settings translation takes from Options.
func (s *Server) meshOptions() []translate.Option {
	out := []translate.Option{translate.WithMeshConfig(s.opts.MeshConfig), translate.WithTelemetry(s.opts.Telemetry)}
	if s.opts.TrustDomain != "" {
		out = append(out, translate.WithTrustDomain(s.opts.TrustDomain))
	}
	return out
}
