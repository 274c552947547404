package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// An endpoint change sends only the load assignments it changed, in state
// of the world as in Delta (issue 13), and real Envoy keeps the others: a
// state-of-the-world response of endpoints is not the whole set (xDS:
// only listeners and clusters are). front-end-v2 stops being ready: the
// client's Envoy applies new endpoints to front-end and to its v2 subset;
// catalogue's, not in the response, get no update at all (Envoy's
// update_attempt of the cluster does not move), and catalogue answers. Then v2 is
// ready again and serves again. No NACK (the harness checks).
func TestEndpointChangeSendsOnlyTheChangedEndpoints(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			s := newSockShop(t, map[string]string{"front-end-destinationrule.yaml": destinationRuleFrontEnd})
			if delta {
				s.BootstrapArgs = []string{"--delta"}
			}
			s.Start()
			s.waitClusters(t, frontEndV1Cluster, frontEndV2Cluster, catalogueCluster)
			c := s.client.Client()
			for _, v := range []string{"v1", "v2"} {
				if _, err := harness.WaitForRoute(c, frontEndURL, nil, converge, servedByVersion(v)); err != nil {
					t.Fatal(err)
				}
			}
			before := edsVersions(t, s.client.Admin())

			s.setReady(t, s.frontEndV2, false)
			changed := waitEDS(t, s.client.Admin(), func(v map[string]edsEntry) bool {
				return v[frontEndV2Cluster].endpoints == 0 && v[frontEndCluster].endpoints == 1
			})
			for _, name := range []string{frontEndCluster, frontEndV2Cluster} {
				if changed[name].updates <= before[name].updates {
					t.Errorf("%s: %d endpoint updates before the change, %d after", name, before[name].updates, changed[name].updates)
				}
			}
			for _, name := range []string{catalogueCluster, frontEndV1Cluster} {
				if changed[name] != before[name] {
					t.Errorf("%s: endpoints went from %+v to %+v: they did not change, and should not have been sent", name, before[name], changed[name])
				}
			}
			if changed[frontEndCluster].endpoints != 1 {
				t.Errorf("%s has %d endpoints, want front-end-v1's alone", frontEndCluster, changed[frontEndCluster].endpoints)
			}
			getOK(t, c, catalogueURL, "")
			for i := 0; i < 10; i++ {
				if v := getOK(t, c, frontEndURL, "").Echo.Version; v != "v1" {
					t.Fatalf("front-end answered from %s after v2 stopped being ready", v)
				}
			}

			s.setReady(t, s.frontEndV2, true)
			if _, err := harness.WaitForRoute(c, frontEndURL, nil, converge, servedByVersion("v2")); err != nil {
				t.Fatal(err)
			}
			if after := edsVersions(t, s.client.Admin()); after[catalogueCluster] != before[catalogueCluster] {
				t.Errorf("%s: endpoints went from %+v to %+v over two changes that did not touch it", catalogueCluster, before[catalogueCluster], after[catalogueCluster])
			}
		})
	}
}

// setReady rewrites pods.yaml with the pod's Ready condition.
func (s *sockShop) setReady(t testing.TB, pod *harness.Pod, ready bool) {
	t.Helper()
	var docs []string
	for _, p := range s.Pods {
		y := p.YAML()
		if p == pod && !ready {
			y = strings.ReplaceAll(y, `status: "True"`, `status: "False"`)
		}
		docs = append(docs, y)
	}
	s.WriteFile("pods.yaml", harness.JoinDocs(docs...))
}

// edsEntry is what an Envoy says of one cluster's endpoints: how many
// membership updates (EDS load assignments) it has applied to the cluster
// (cluster.NAME.update_attempt), and how many endpoints the cluster has.
type edsEntry struct {
	updates   uint64
	endpoints int
}

// edsVersions reads, for every cluster with endpoints, its updates from
// the admin /stats and its endpoints from /config_dump?include_eds.
func edsVersions(t testing.TB, admin string) map[string]edsEntry {
	t.Helper()
	raw, err := harness.EnvoyConfigDump(admin)
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		Configs []struct {
			Type    string `json:"@type"`
			Dynamic []struct {
				Config struct {
					ClusterName string `json:"cluster_name"`
					Endpoints   []struct {
						LbEndpoints []json.RawMessage `json:"lb_endpoints"`
					} `json:"endpoints"`
				} `json:"endpoint_config"`
			} `json:"dynamic_endpoint_configs"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(raw, &dump); err != nil {
		t.Fatal(err)
	}
	stats, err := harness.EnvoyStats(admin, `update_attempt$`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]edsEntry{}
	for _, c := range dump.Configs {
		if !strings.HasSuffix(c.Type, "EndpointsConfigDump") {
			continue
		}
		for _, d := range c.Dynamic {
			n := 0
			for _, g := range d.Config.Endpoints {
				n += len(g.LbEndpoints)
			}
			name := d.Config.ClusterName
			out[name] = edsEntry{updates: stats["cluster."+name+".update_attempt"], endpoints: n}
		}
	}
	return out
}

func waitEDS(t testing.TB, admin string, ok func(map[string]edsEntry) bool) map[string]edsEntry {
	t.Helper()
	var got map[string]edsEntry
	err := harness.Eventually(converge, 20*time.Millisecond, func() error {
		got = edsVersions(t, admin)
		if !ok(got) {
			return fmt.Errorf("endpoints not there yet: %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
