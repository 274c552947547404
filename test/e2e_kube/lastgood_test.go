package e2ekube

import (
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestKubeBadEditKeepsTheLastGood: against a real API server, the demo's
// VirtualService (Firefox to v2, the rest 80/20) is edited so that its
// weights add up to 110 (the CRD schema does not check sums, as Istio's
// webhook would). The sidecar keeps the 80/20 routes and the Firefox rule,
// NACKs nothing, and the object's status says why the edit is refused and
// that the previous version is still served. The fix (60/40) is served and
// accepted.
func TestKubeBadEditKeepsTheLastGood(t *testing.T) {
	e := newSockShop(t)
	p := e.startPilot("pilotlight-0")
	s := e.startSidecar(p, "sleep")
	e.waitDemo(s)

	e.c.ApplyYAML(demoVirtualService(".*Firefox.*", 90, 20))
	vs := e.waitStatus("front-end", "False", "InvalidConfig", "spec.http[1].route", "IST0106")
	if msg := vs.Status.Conditions[0].GetMessage(); !strings.Contains(msg, "add up to 110") || !strings.Contains(msg, "the previous valid version is still served") {
		t.Errorf("condition message %q, want the weights and that the previous version is still served", msg)
	}
	// The status is written after the build that saw the bad edit: the
	// routes are those of before, and stay so.
	if err := s.routesAre(frontEndVHost, demoRoutes(80, 20))(); err != nil {
		t.Error(err)
	}
	time.Sleep(time.Second) // a late push of the bad version would show by now
	if err := s.routesAre(frontEndVHost, demoRoutes(80, 20))(); err != nil {
		t.Error(err)
	}
	s.requireNoNacks(t)

	e.c.ApplyYAML(demoVirtualService(".*Firefox.*", 60, 40))
	if err := harness.Eventually(converge, 50*time.Millisecond, s.routesAre(frontEndVHost, demoRoutes(60, 40))); err != nil {
		t.Fatal(err)
	}
	e.waitStatus("front-end", "True", "Accepted", "", "")
	s.requireNoNacks(t)
}
