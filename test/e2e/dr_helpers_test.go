package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Shared by the DestinationRule tests (dr_*_test.go). Their meshes live in
// namespace bookinfo; each test has its own services and pods.

const drNamespace = "bookinfo"

// drCluster is the cluster name of port 80 of a bookinfo service.
func drCluster(service string) string {
	return fmt.Sprintf("outbound|80||%s.%s.svc.cluster.local", service, drNamespace)
}

// drURL is http://service.bookinfo/ plus path.
func drURL(service, path string) string {
	return "http://" + service + "." + drNamespace + path
}

// destinationRule is a DestinationRule for a bookinfo service; spec is the
// YAML under spec: after host, indented by two spaces.
func destinationRule(service, spec string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: %s
  namespace: %s
spec:
  host: %s
%s`, service, drNamespace, service, spec)
}

// addPods adds n echo pods name-1 … name-n with label app=name.
func addPods(m *harness.Mesh, name string, n int) []*harness.Pod {
	pods := make([]*harness.Pod, n)
	for i := range pods {
		pods[i] = m.AddPod(fmt.Sprintf("%s-%d", name, i+1), map[string]string{"app": name, "version": "v1"})
	}
	return pods
}

// waitHosts waits until the sidecar at admin has cluster name with n hosts.
func waitHosts(t testing.TB, admin, name string, n int) {
	t.Helper()
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		cs, err := harness.EnvoyClusters(admin)
		if err != nil {
			return err
		}
		if got := len(cs[name].HostStatuses); got != n {
			return fmt.Errorf("cluster %s has %d hosts, want %d", name, got, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// servedBy sends n GETs through c and counts the answers by the pod that
// served them; anything but a 200 from the echo app fails the test.
func servedBy(t testing.TB, c *http.Client, url string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		counts[getOK(t, c, url, "").Echo.Pod]++
	}
	return counts
}

// formatCounts renders counts sorted by key: "a=3 b=1".
func formatCounts(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " ")
}
