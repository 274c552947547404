package meshdns

import (
	"context"
	"errors"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/discovery"
)

// TestResolvesServices asks a running server with Go's own resolver: a
// Service's FQDN (and name.namespace) gives its ready endpoints; an
// unknown cluster name does not exist; other names are refused.
func TestResolvesServices(t *testing.T) {
	svc := &discovery.Service{Meta: discovery.Meta{Name: "ratelimit", Namespace: "rate-limit"}, Hostname: "ratelimit.rate-limit.svc.cluster.local"}
	snap := (&discovery.Snapshot{
		Services: []*discovery.Service{svc},
		Endpoints: map[string][]*discovery.Endpoint{svc.Key(): {
			{Address: "127.40.0.20", Ready: true},
			{Address: "127.40.0.21", Ready: true},
			{Address: "127.40.0.22", Ready: false},
		}},
	}).Seal()
	s := NewServer(nil)
	s.Update(snap)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", conn.LocalAddr().String())
	}}
	lookup := func(name string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := r.LookupHost(ctx, name)
		sort.Strings(addrs)
		return addrs, err
	}
	for _, name := range []string{"ratelimit.rate-limit.svc.cluster.local.", "RateLimit.rate-limit.svc.cluster.local.", "ratelimit.rate-limit."} {
		addrs, err := lookup(name)
		if err != nil || len(addrs) != 2 || addrs[0] != "127.40.0.20" || addrs[1] != "127.40.0.21" {
			t.Errorf("%s: %v, %v; want the two ready endpoints", name, addrs, err)
		}
	}
	var dnsErr *net.DNSError
	if _, err := lookup("nope.rate-limit.svc.cluster.local."); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("unknown service: %v, want not found", err)
	}
	if addrs, err := lookup("example.com."); err == nil || (errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		t.Errorf("example.com: %v, %v; want a refusal (not found would be a lie)", addrs, err)
	}
}
