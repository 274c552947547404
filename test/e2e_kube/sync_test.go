package e2ekube

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

// TestKubeSyncAndChanges: pilotlight reads the sock shop from the API
// server and serves it to a real Envoy (clusters, subset clusters, the
// VirtualService's regex and weights, endpoints from the pods' 10.244.x
// IPs); then every kind of change reaches that Envoy: pods scaled up and
// down, a pod not ready and ready again, a VirtualService edited, a Service
// deleted and created again. It measures, for each change, the time from
// the API write to the Envoy having it, and reports the median and worst.
func TestKubeSyncAndChanges(t *testing.T) {
	e := newSockShop(t)
	p := e.startPilot("pilotlight-0")
	s := e.startSidecar(p, "sleep")
	e.waitDemo(s)

	// The endpoints are the pods' IPs from the API, on the target port.
	cs, err := s.clusters()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{catalogueCluster, frontEndCluster, frontEndV1Cluster, frontEndV2Cluster} {
		for _, h := range cs[name] {
			if !strings.HasPrefix(h, "10.244.") || !strings.HasSuffix(h, ":8080") {
				t.Errorf("cluster %s: host %s is not a pod IP of 10.244.0.0/16 on port 8080", name, h)
			}
		}
	}
	// The client pod itself serves nothing: no Service selects it.
	if ps, err := p.proxies(); err != nil {
		t.Errorf("/debug/proxies: %v", err)
	} else if len(ps) != 1 || ps[0].Pod != ns+"/sleep" {
		t.Errorf("/debug/proxies: %+v, want the one proxy of %s/sleep", ps, ns)
	}

	var lat latencies
	catalogue := map[string]string{"app": "catalogue"}
	wantCatalogue := func() func() error { return s.hostsAre(catalogueCluster, e.endpoints(catalogue)) }

	for round := 0; round < 4; round++ {
		// Scale catalogue up: a new pod with a new IP.
		first := e.endpoints(catalogue)
		if len(first) != 1 {
			t.Fatalf("catalogue has endpoints %q, want one", first)
		}
		var added, addedIP string
		lat.measure(t, fmt.Sprintf("round %d: catalogue scaled 1 -> 2", round), func() {
			pod := e.scale("catalogue", "v1", 2)[0]
			added, addedIP = pod.Name, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(targetPort))
		}, func() error { return s.hostsAre(catalogueCluster, append([]string{addedIP}, first...))() })

		// The new pod's readiness probe fails, then passes again.
		lat.measure(t, fmt.Sprintf("round %d: %s not ready", round, added), func() {
			e.k.SetReady(ns, added, false)
		}, s.hostsAre(catalogueCluster, first))
		lat.measure(t, fmt.Sprintf("round %d: %s ready again", round, added), func() {
			e.k.SetReady(ns, added, true)
		}, s.hostsAre(catalogueCluster, append([]string{addedIP}, first...)))

		// Scale down again.
		lat.measure(t, fmt.Sprintf("round %d: catalogue scaled 2 -> 1", round), func() {
			e.scale("catalogue", "v1", 1)
		}, s.hostsAre(catalogueCluster, first))

		// Edit the VirtualService: new canary weights.
		v1 := 70 - 10*round
		lat.measure(t, fmt.Sprintf("round %d: VirtualService weights %d/%d", round, v1, 100-v1), func() {
			e.c.ApplyYAML(demoVirtualService(".*Firefox.*", v1, 100-v1))
		}, s.routesAre(frontEndVHost, demoRoutes(v1, 100-v1)))
	}

	// A subset grows: front-end v2 scaled to 2 shows in the v2 subset
	// cluster and the service cluster.
	lat.measure(t, "front-end v2 scaled 1 -> 2", func() {
		e.scale("front-end", "v2", 2)
	}, func() error {
		if err := s.hostsAre(frontEndV2Cluster, e.endpoints(map[string]string{"app": "front-end", "version": "v2"}))(); err != nil {
			return err
		}
		return s.hostsAre(frontEndCluster, e.endpoints(map[string]string{"app": "front-end"}))()
	})

	// A new match regex.
	lat.measure(t, "VirtualService regex .*Chrome.*", func() {
		e.c.ApplyYAML(demoVirtualService(".*Chrome.*", 50, 50))
	}, s.routesAre(frontEndVHost, []Route{
		{Name: "firefox-to-v2", Regexes: []string{".*Chrome.*"}, To: []string{frontEndV2Cluster}},
		{Name: "canary", To: []string{frontEndV1Cluster + "=50", frontEndV2Cluster + "=50"}},
	}))

	// A Service deleted, then created again (a new ClusterIP, the same pods).
	lat.measure(t, "service catalogue deleted", func() {
		e.c.DeleteService(ns, "catalogue")
	}, s.clusterGone(catalogueCluster))
	lat.measure(t, "service catalogue created again", func() {
		e.c.CreateService(kube.HTTPService(ns, "catalogue", 80, targetPort))
	}, func() error { return wantCatalogue()() })

	if n := len(lat.took); n < 20 {
		t.Fatalf("measured %d changes, want at least 20", n)
	}
	lat.report(t, "kube-change-latency.txt")

	// Everything else is still as it was, and nothing was refused.
	if err := harness.Eventually(converge, 50*time.Millisecond, s.hostsAre(frontEndV1Cluster, e.endpoints(map[string]string{"app": "front-end", "version": "v1"}))); err != nil {
		t.Fatal(err)
	}
	s.requireNoNacks(t)
}
