package e2e

import (
	"net/http"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestCrossServiceRequest: a request from the client pod goes through its
// sidecar's outbound proxy to a front-end pod's sidecar (inbound listener on
// the pod IP) and on to the app; and a front-end pod's own sidecar reaches
// catalogue the same way.
func TestCrossServiceRequest(t *testing.T) {
	s := startSockShop(t, nil)
	s.waitClusters(t, frontEndCluster, catalogueCluster)
	c := s.client.Client()

	// Every spelling of the host an app may use: short name (same
	// namespace), name.namespace, FQDN, each with and without the port.
	hosts := []string{
		"front-end", "front-end:80",
		"front-end.sock-shop", "front-end.sock-shop:80",
		"front-end.sock-shop.svc.cluster.local", "front-end.sock-shop.svc.cluster.local:80",
	}
	for _, h := range hosts {
		a, err := harness.WaitForRoute(c, "http://"+h+"/hello", nil, converge, nil)
		if err != nil {
			t.Fatalf("host %q: %v", h, err)
		}
		checkFrontEndAnswer(t, h, a)
		if a.Echo.Path != "/hello" {
			t.Errorf("host %q: the app saw path %q, want /hello", h, a.Echo.Path)
		}
	}

	// Both front-end pods are endpoints: 40 requests all to one of two
	// equally loaded endpoints would happen with probability 2^-39.
	seen := map[string]int{}
	for i := 0; i < 40; i++ {
		a := getOK(t, c, frontEndURL, "")
		checkFrontEndAnswer(t, "front-end.sock-shop", a)
		seen[a.Echo.Pod]++
	}
	if seen["front-end-v1"] == 0 || seen["front-end-v2"] == 0 {
		t.Errorf("40 requests reached only %v: want both front-end pods", seen)
	}
	// They went through each server pod's inbound listener, not around it.
	waitStat(t, s.frontEndV1.Admin(), "cluster."+inboundCluster+".upstream_rq_total", 1)
	waitStat(t, s.frontEndV2.Admin(), "cluster."+inboundCluster+".upstream_rq_total", 1)
	waitStat(t, s.client.Admin(), "cluster."+frontEndCluster+".upstream_rq_total", uint64(40+len(hosts)))

	// front-end-v1's sidecar -> catalogue.
	if _, err := harness.WaitForCluster(s.frontEndV1.Admin(), catalogueCluster, converge); err != nil {
		t.Fatal(err)
	}
	a, err := harness.WaitForRoute(s.frontEndV1.Client(), catalogueURL, nil, converge, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Echo.Pod != "catalogue-v1" || a.Echo.Version != "v1" || a.Echo.Service != "catalogue" || a.ServedBy != "catalogue-v1" {
		t.Errorf("front-end-v1 -> catalogue: answer %v", a)
	}
	waitStat(t, s.catalogue.Admin(), "cluster."+inboundCluster+".upstream_rq_total", 1)
	waitStat(t, s.frontEndV1.Admin(), "cluster."+catalogueCluster+".upstream_rq_total", 1)
}

func checkFrontEndAnswer(t *testing.T, host string, a *harness.Answer) {
	t.Helper()
	e := a.Echo
	want := map[string]string{"front-end-v1": "v1", "front-end-v2": "v2"}[e.Pod]
	if want == "" || e.Version != want || e.Service != "front-end" || a.ServedBy != e.Pod {
		t.Errorf("host %q: answer %v: want a front-end pod and its version", host, a)
	}
}

// TestWeightedSplit8020: v1 weight 80, v2 weight 20. Each request picks
// a subset at random, so the number going to v2 out of n is binomial(n,
// 0.2): its share has standard deviation sqrt(0.2*0.8/n), 0.0126 for
// n = 1000. Five standard deviations (±0.063) is exceeded by chance with
// probability about 6e-7, so a failure means the weights are wrong (a
// 50/50 split, or all to one subset, is more than 20 deviations away).
func TestWeightedSplit8020(t *testing.T) {
	s := startSockShop(t, map[string]string{
		"front-end-destinationrule.yaml": destinationRuleFrontEnd,
		"front-end-virtualservice.yaml":  virtualServiceWeighted(80, 20),
	})
	s.waitClusters(t, frontEndV1Cluster, frontEndV2Cluster)
	c := s.client.Client()
	if _, err := harness.WaitForRoute(c, frontEndURL, nil, converge, nil); err != nil {
		t.Fatal(err)
	}

	const n = 1000
	count, failures := countVersions(c, frontEndURL, "", n, 8)

	checkCanary(t, "requests", count, failures, n)
}

// TestHeaderRegexMatch: user-agent matching the regex .*Firefox.* goes to
// v2, every other request to v1, request by request.
func TestHeaderRegexMatch(t *testing.T) {
	s := startSockShop(t, map[string]string{
		"front-end-destinationrule.yaml": destinationRuleFrontEnd,
		"front-end-virtualservice.yaml":  virtualServiceFirefox,
	})
	s.waitClusters(t, frontEndV1Cluster, frontEndV2Cluster)
	c := s.client.Client()
	if _, err := harness.WaitForRoute(c, frontEndURL, http.Header{"User-Agent": {firefoxUA}}, converge, servedByVersion("v2")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		ua, want string
	}{
		{firefoxUA, "v2"},
		{"Firefox", "v2"},
		{"something Firefox/1 something", "v2"},
		{chromeUA, "v1"},
		{"curl/8.5.0", "v1"},
		// Istio's regex match is RE2, anchored and case-sensitive.
		{"mozilla/5.0 firefox/128.0", "v1"},
		{"", "v1"}, // Go's own user-agent
	}
	const rounds = 50
	for i := 0; i < rounds; i++ {
		for _, tc := range cases {
			a := getOK(t, c, frontEndURL, tc.ua)
			if a.Echo.Version != tc.want {
				t.Fatalf("round %d: user-agent %q went to %s (%s), want %s", i, tc.ua, a.Echo.Version, a.Echo.Pod, tc.want)
			}
			if tc.ua != "" && a.Echo.Headers["user-agent"] != tc.ua {
				t.Fatalf("the app saw user-agent %q, sent %q", a.Echo.Headers["user-agent"], tc.ua)
			}
		}
	}
}
