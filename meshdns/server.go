// Package meshdns answers the DNS names of the mesh's Services for the
// proxies of a folder-mode mesh, where no kube-dns runs: a STRICT_DNS or
// LOGICAL_DNS cluster that names a Service (an EnvoyFilter's
// "ratelimit.rate-limit.svc.cluster.local", say) then resolves, as it
// would in a cluster. It is the small part of Istio's DNS proxying that
// such clusters need, served by the control plane (`serve --dns-addr`)
// and named in each Envoy's bootstrap as its only resolver
// (`bootstrap --dns-addr`).
//
// A Service's name resolves to the addresses of its ready endpoints, as a
// headless Service's does: in local mode there is no cluster IP to route.
// Names under the cluster domain that are no Service get NXDOMAIN; any
// other name is refused (this is not a recursive resolver), so nothing
// leaves the machine.
package meshdns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/pilotlight/pilotlight/discovery"
)

// ttl of an answer, in seconds: short, as endpoints come and go.
const ttl = 5

// Server answers DNS queries over UDP from the latest snapshot.
type Server struct {
	log  *slog.Logger
	snap atomic.Pointer[discovery.Snapshot]
}

// NewServer returns a Server that knows no names until Update.
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{log: log}
}

// Update makes the server answer from snap.
func (s *Server) Update(snap *discovery.Snapshot) { s.snap.Store(snap) }

// Serve answers queries on conn until ctx is done or conn fails.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	buf := make([]byte, 1500)
	for {
		n, addr, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if reply := s.Answer(buf[:n]); reply != nil {
			if _, err := conn.WriteTo(reply, addr); err != nil {
				s.log.Debug("dns: cannot answer", "to", addr.String(), "error", err)
			}
		}
	}
}

// Answer is the reply to one DNS query, or nil for a message that is not
// a query (it gets no reply at all).
func (s *Server) Answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return reply(h, nil, dnsmessage.RCodeFormatError, nil)
	}
	addrs, code := s.lookup(q)
	return reply(h, &q, code, addrs)
}

// lookup resolves one question: the service's ready endpoint addresses
// of the question's family (none is an empty NOERROR answer).
func (s *Server) lookup(q dnsmessage.Question) ([]netip.Addr, dnsmessage.RCode) {
	snap := s.snap.Load()
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	if snap == nil || q.Class != dnsmessage.ClassINET {
		return nil, dnsmessage.RCodeRefused
	}
	svc := snap.ServiceByHost(discovery.ResolveHost(name, ""))
	if svc == nil || !strings.Contains(name, ".") {
		if strings.HasSuffix(name, ".svc."+discovery.DefaultDomainSuffix) {
			return nil, dnsmessage.RCodeNameError
		}
		return nil, dnsmessage.RCodeRefused
	}
	var out []netip.Addr
	for _, ep := range snap.Endpoints[svc.Key()] {
		a, err := netip.ParseAddr(ep.Address)
		if err != nil || !ep.Ready {
			continue
		}
		if (q.Type == dnsmessage.TypeA && a.Is4()) || (q.Type == dnsmessage.TypeAAAA && a.Is6()) {
			out = append(out, a)
		}
	}
	return out, dnsmessage.RCodeSuccess
}

func reply(h dnsmessage.Header, q *dnsmessage.Question, code dnsmessage.RCode, addrs []netip.Addr) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: h.ID, Response: true, Authoritative: code != dnsmessage.RCodeRefused,
		RecursionDesired: h.RecursionDesired, RCode: code,
	})
	b.EnableCompression()
	if q == nil {
		_ = b.StartQuestions()
		msg, _ := b.Finish()
		return msg
	}
	_ = b.StartQuestions()
	_ = b.Question(*q)
	_ = b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: ttl}
	for _, a := range addrs {
		if a.Is4() {
			_ = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		} else {
			_ = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return nil
	}
	return msg
}
