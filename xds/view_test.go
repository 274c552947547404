package xds

import (
	"slices"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/translate"
)

// Every proxy's view holds the clusters translate gives it, whether they
// are a list other proxies share or one an EnvoyFilter patched for it.
func TestViewsHoldTheClustersOfTheirProxy(t *testing.T) {
	snap, err := folder.Load("../translate/testdata/cases/envoyfilter-cluster")
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, snap)
	mesh := translate.NewMesh(snap)
	patched := 0
	for _, pod := range snap.Pods {
		p := proxyOf(pod)
		res := mesh.ForProxy(p)
		var want []string
		for _, c := range res.Clusters {
			want = append(want, c.Name)
		}
		slices.Sort(want)
		v := ts.register(t, p.NodeID())
		if got := v.typeView(resourcev3.ClusterType).names(); !slices.Equal(got, want) {
			t.Errorf("%s (%d patches): clusters %v, want %v", pod.Name, len(res.Patches), got, want)
		}
		if len(res.Patches) > 0 {
			patched++
		}
	}
	if patched == 0 {
		t.Fatal("no proxy of the case was patched")
	}
}
