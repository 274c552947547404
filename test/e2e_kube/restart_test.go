package e2ekube

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// outage is how long the API server stays down in TestKubeAPIServerRestart:
// long enough for informers to see their watches fail and retry.
const outage = 5 * time.Second

// TestKubeAPIServerRestart: while the API server is down, pilotlight keeps
// running, the proxy stays connected to it and keeps its config (clusters
// with endpoints, routes); once the API server is back (same port, same
// data), changes made afterwards reach the proxy.
func TestKubeAPIServerRestart(t *testing.T) {
	e := newSockShop(t)
	p := e.startPilot("pilotlight-0")
	s := e.startSidecar(p, "sleep")
	e.waitDemo(s)
	before, err := s.clusters()
	if err != nil {
		t.Fatal(err)
	}

	e.c.StopAPIServer()
	down := time.Now()
	t.Logf("kube-apiserver stopped")
	// During the outage: sampled every 200 ms, the proxy has the same
	// clusters and hosts, the demo's routes, and a live xDS stream.
	for time.Since(down) < outage {
		if err := p.Proc.CheckRunning(); err != nil {
			t.Fatalf("pilotlight during the API server outage: %v", err)
		}
		now, err := s.clusters()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{catalogueCluster, frontEndCluster, frontEndV1Cluster, frontEndV2Cluster} {
			if fmt.Sprint(now[name]) != fmt.Sprint(before[name]) {
				t.Fatalf("%v into the outage: cluster %s has hosts %q, had %q", time.Since(down).Round(time.Millisecond), name, now[name], before[name])
			}
		}
		if err := s.routesAre(frontEndVHost, demoRoutes(80, 20))(); err != nil {
			t.Fatalf("%v into the outage: %v", time.Since(down).Round(time.Millisecond), err)
		}
		if n, err := harness.EnvoyStat(s.admin(), "control_plane.connected_state"); err != nil || n != 1 {
			t.Fatalf("%v into the outage: control_plane.connected_state = %d (%v), want 1: the proxy lost pilotlight", time.Since(down).Round(time.Millisecond), n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	start := time.Now()
	e.c.StartAPIServer()
	t.Logf("kube-apiserver back after %v (start to ready %v)", time.Since(down).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// Changes after the return arrive: a new pod, and new weights.
	back := time.Now()
	pod := e.scale("catalogue", "v1", 2)[0]
	added := net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(targetPort))
	want := append([]string{added}, before[catalogueCluster]...)
	// Informers back off between retries (client-go: up to about 30 s),
	// so the first change after an outage may take a while; the
	// controller-manager's informers (EndpointSlices) back off too, so
	// both hops are timed.
	var sliceAt, proxyAt time.Duration
	err = harness.Eventually(90*time.Second, 20*time.Millisecond, func() error {
		if sliceAt == 0 {
			if got, err := e.c.EndpointSliceAddresses(ns, "catalogue", true); err == nil && len(got) == len(want) {
				sliceAt = time.Since(back)
			}
		}
		if err := s.hostsAre(catalogueCluster, want)(); err != nil {
			return err
		}
		proxyAt = time.Since(back)
		return nil
	})
	if err != nil {
		t.Fatalf("after the API server came back: %v", err)
	}
	t.Logf("first change after the restart (pod %s): in the EndpointSlice after %v, at the proxy after %v",
		pod.Name, sliceAt.Round(time.Millisecond), proxyAt.Round(time.Millisecond))

	var lat latencies
	lat.measure(t, "VirtualService weights 30/70 after restart", func() {
		e.c.ApplyYAML(demoVirtualService(".*Firefox.*", 30, 70))
	}, s.routesAre(frontEndVHost, demoRoutes(30, 70)))
	lat.measure(t, "catalogue scaled 2 -> 1 after restart", func() {
		e.scale("catalogue", "v1", 1)
	}, s.hostsAre(catalogueCluster, before[catalogueCluster]))
	lat.report(t, "kube-restart-latency.txt")
	s.requireNoNacks(t)
}
