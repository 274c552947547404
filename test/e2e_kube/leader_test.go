package e2ekube

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

// Short leader election for TestKubeLeaderElection.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 1 * time.Second
)

var leaseFlags = []string{
	"--leader-elect=true",
	"--leader-lease-duration", leaseDuration.String(),
	"--leader-renew-deadline", renewDeadline.String(),
	"--leader-retry-period", retryPeriod.String(),
}

// TestKubeLeaderElection: two replicas against one API server both serve
// the same config (each to its own Envoy); exactly one holds the Lease and
// says so at /debug/leader. When the leader dies (SIGKILL: no graceful
// release), the other takes over within the lease time, and an invalid
// object created right after the kill gets its status only once the
// survivor leads: a follower never writes status.
func TestKubeLeaderElection(t *testing.T) {
	e := newSockShop(t)
	pa := e.startPilot("pilotlight-a", leaseFlags...)
	pb := e.startPilot("pilotlight-b", leaseFlags...)
	sa := e.startSidecar(pa, "sleep-a")
	sb := e.startSidecar(pb, "sleep-b")
	e.waitDemo(sa)
	e.waitDemo(sb)

	// Both serve the same clusters, endpoints and routes.
	err := harness.Eventually(converge, 100*time.Millisecond, func() error {
		ca, err := sa.clusters()
		if err != nil {
			return err
		}
		cb, err := sb.clusters()
		if err != nil {
			return err
		}
		// xds-grpc, the bootstrap's static cluster, points at each
		// replica's own address: compare what the replicas sent.
		ca, cb = meshClusters(ca), meshClusters(cb)
		if fmt.Sprint(ca) != fmt.Sprint(cb) {
			return fmt.Errorf("the replicas serve different clusters:\n  a: %v\n  b: %v", ca, cb)
		}
		ra, err := sa.routeConfigs()
		if err != nil {
			return err
		}
		rb, err := sb.routeConfigs()
		if err != nil {
			return err
		}
		if string(ra["http_proxy"]) != string(rb["http_proxy"]) {
			return fmt.Errorf("the replicas serve different http_proxy routes:\n  a: %s\n  b: %s", ra["http_proxy"], rb["http_proxy"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Exactly one leader, and it holds the Lease.
	leader, follower := e.waitOneLeader(pa, pb)
	t.Logf("leader %s, follower %s", leader.Identity, follower.Identity)

	// The leader writes status.
	e.c.ApplyYAML(catalogueUnknownSubset)
	e.waitStatus("catalogue-unknown-subset", "False", "InvalidConfig", unknownSubsetField, "IST0101")

	// Kill the leader without a chance to release the Lease, and at once
	// create another invalid object.
	if err := leader.Proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = leader.Proc.Stop() // reaps it; it is expected to be gone
	const second = "catalogue-unknown-subset-2"
	e.c.ApplyYAML(replaceName(catalogueUnknownSubset, "catalogue-unknown-subset", second))
	created := time.Now()

	var (
		leads, holds, statusAt time.Time
		statusWhileFollower    int
	)
	deadline := killed.Add(leaseDuration + renewDeadline + 10*retryPeriod + 20*time.Second)
	for time.Now().Before(deadline) && (leads.IsZero() || holds.IsZero() || statusAt.IsZero()) {
		// Read the object first, then who leads: a status seen while the
		// survivor still says it follows was written by a follower.
		vs, err := e.c.VirtualService(ns, second)
		if err != nil {
			t.Fatal(err)
		}
		hasStatus := kube.Condition(&vs.Status, "Reconciled") != nil
		li, err := follower.leader()
		if err != nil {
			t.Fatalf("%s /debug/leader: %v", follower.Identity, err)
		}
		holder, err := e.leaseHolder()
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if hasStatus && statusAt.IsZero() {
			statusAt = now
			if !li.Leader {
				statusWhileFollower++
			}
		}
		if li.Leader && leads.IsZero() {
			leads = now
		}
		if holder == follower.Identity && holds.IsZero() {
			holds = now
		}
		if leads.IsZero() && holder != leader.Identity && holder != follower.Identity {
			t.Errorf("Lease holder %q during the handover", holder)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if statusWhileFollower > 0 {
		t.Errorf("%s got status while %s still said it was not the leader: a follower wrote status", second, follower.Identity)
	}
	if leads.IsZero() || holds.IsZero() {
		t.Fatalf("after killing %s, %s did not take over (debug/leader at %v, Lease at %v)", leader.Identity, follower.Identity, leads, holds)
	}
	if statusAt.IsZero() {
		t.Fatalf("%s never got a status from the new leader %s", second, follower.Identity)
	}
	handover := maxTime(leads, holds).Sub(killed)
	t.Logf("handover: leader killed -> %s holds the Lease in %v, says leader in %v; status of %s (created %v after the kill) written %v after the kill",
		follower.Identity, holds.Sub(killed).Round(time.Millisecond), leads.Sub(killed).Round(time.Millisecond),
		second, created.Sub(killed).Round(time.Millisecond), statusAt.Sub(killed).Round(time.Millisecond))
	// Bound: the survivor polls the Lease every retryPeriod with up to
	// 1.2x jitter (client-go), so it sees the dead leader's last renewal at
	// most 2.2 retry periods late, counts leaseDuration from then, and
	// acquires at its next poll: leaseDuration + 2 x 2.2 x retryPeriod,
	// plus a second for API round trips on a loaded machine.
	if limit := leaseDuration + 2*retryPeriod*22/10 + time.Second; handover > limit {
		t.Errorf("handover took %v, want at most %v (lease %v, retry %v)", handover, limit, leaseDuration, retryPeriod)
	}
	e.waitStatus(second, "False", "InvalidConfig", unknownSubsetField, "IST0101")

	// The survivor still serves its proxy, and changes reach it.
	e.scale("catalogue", "v1", 2)
	if err := harness.Eventually(converge, 20*time.Millisecond,
		sb.hostsAre(catalogueCluster, e.endpoints(map[string]string{"app": "catalogue"}))); err != nil {
		t.Fatal(err)
	}
	sb.requireNoNacks(t)
}

// waitOneLeader waits until exactly one of a and b says it leads and the
// Lease names it, and returns (leader, follower).
func (e *env) waitOneLeader(a, b *pilot) (*pilot, *pilot) {
	t := e.t
	t.Helper()
	var leader, follower *pilot
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		la, err := a.leader()
		if err != nil {
			return err
		}
		lb, err := b.leader()
		if err != nil {
			return err
		}
		if la.Identity != a.Identity || lb.Identity != b.Identity {
			return harness.Permanent(fmt.Errorf("/debug/leader identities %q and %q, want %q and %q", la.Identity, lb.Identity, a.Identity, b.Identity))
		}
		switch {
		case la.Leader && lb.Leader:
			return fmt.Errorf("both replicas say they lead")
		case la.Leader:
			leader, follower = a, b
		case lb.Leader:
			leader, follower = b, a
		default:
			return fmt.Errorf("no replica leads yet")
		}
		holder, err := e.leaseHolder()
		if err != nil {
			return err
		}
		if holder != leader.Identity {
			return fmt.Errorf("Lease %s/%s is held by %q, but %s says it leads", leaseNamespace, leaseName, holder, leader.Identity)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return leader, follower
}

// meshClusters keeps the clusters pilotlight sends (inbound|… and outbound|…).
func meshClusters(cs map[string][]string) map[string][]string {
	out := map[string][]string{}
	for name, hosts := range cs {
		if strings.HasPrefix(name, "outbound|") || strings.HasPrefix(name, "inbound|") {
			out[name] = hosts
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func replaceName(y, old, new string) string {
	return strings.Replace(y, "name: "+old+"\n", "name: "+new+"\n", 1)
}
