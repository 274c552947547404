package e2e

import (
	"net/http"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

// BenchmarkRequestThroughMesh measures one request from the client pod
// through two sidecars (client outbound, front-end inbound) to the echo
// app, each on a new connection, with the weighted split in place. The
// mesh is started once per benchmark run, before the timer.
func BenchmarkRequestThroughMesh(b *testing.B) {
	s := startSockShop(b, map[string]string{
		"front-end-destinationrule.yaml": destinationRuleFrontEnd,
		"front-end-virtualservice.yaml":  virtualServiceWeighted(80, 20),
	})
	s.waitClusters(b, frontEndV1Cluster, frontEndV2Cluster)
	c := s.client.Client()
	if _, err := harness.WaitForRoute(c, frontEndURL, nil, converge, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a, err := harness.Get(c, frontEndURL, "")
			if err != nil {
				b.Error(err)
				return
			}
			if a.Status != http.StatusOK {
				b.Errorf("answer %v", a)
				return
			}
		}
	})
}
