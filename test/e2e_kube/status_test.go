package e2ekube

import (
	"fmt"
	"strings"
	"testing"
	"time"

	analysisv1alpha1 "istio.io/api/analysis/v1alpha1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

// catalogueUnknownSubset routes catalogue to a subset that no
// DestinationRule defines (IST0101: a reference to something missing).
const catalogueUnknownSubset = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: catalogue-unknown-subset
  namespace: sock-shop
spec:
  hosts:
  - catalogue
  http:
  - route:
    - destination:
        host: catalogue
        subset: v9
`

// cartsRegex matches a header with a regex of the given text.
func cartsRegex(regex string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: carts-regex
  namespace: sock-shop
spec:
  hosts:
  - carts
  http:
  - name: chrome
    match:
    - headers:
        user-agent:
          regex: %q
    route:
    - destination:
        host: carts
  - name: default
    route:
    - destination:
        host: carts
`, regex)
}

const (
	unknownSubsetField = "spec.http[0].route[0].destination.subset"
	badRegexField      = "spec.http[0].match[0].headers.user-agent.regex"
	cartsCluster       = "outbound|80||carts.sock-shop.svc.cluster.local"
	cartsVHost         = "carts.sock-shop.svc.cluster.local:80"
)

// TestKubeInvalidConfigStatus: a VirtualService naming an unknown subset
// and one with a regex RE2 cannot compile are not served (the proxy NACKs
// nothing and keeps the valid config), and each gets a status that says
// why: condition Reconciled=False, reason InvalidConfig, a message naming
// the field, and one ERROR validation message with IST0101 or IST0106.
// Status is written only when it differs (the resourceVersion stays put
// across later pushes). Fixing the regex makes the condition
// Reconciled=True/Accepted, clears the messages, and the route is served.
func TestKubeInvalidConfigStatus(t *testing.T) {
	e := newSockShop(t)
	e.c.CreateService(kube.HTTPService(ns, "carts", 80, targetPort))
	e.scale("carts", "v1", 1)
	p := e.startPilot("pilotlight-0")
	s := e.startSidecar(p, "sleep")
	e.waitDemo(s)

	e.c.ApplyYAML(catalogueUnknownSubset)
	e.c.ApplyYAML(cartsRegex("(Chrome"))

	unknown := e.waitStatus("catalogue-unknown-subset", "False", "InvalidConfig", unknownSubsetField, "IST0101")
	bad := e.waitStatus("carts-regex", "False", "InvalidConfig", badRegexField, "IST0106")
	checkAnalyze(t, e.c.Kubeconfig, map[string]string{
		"VirtualService sock-shop/catalogue-unknown-subset": "IST0101 " + unknownSubsetField,
		"VirtualService sock-shop/carts-regex":              "IST0106 " + badRegexField,
	})

	// The proxy got nothing it refuses, and the valid config is served:
	// the demo's routes, and the default route of catalogue and carts
	// (their invalid VirtualServices are skipped as a whole).
	s.requireNoNacks(t)
	for _, check := range []func() error{
		s.routesAre(frontEndVHost, demoRoutes(80, 20)),
		s.hostsAre(cartsCluster, e.endpoints(map[string]string{"app": "carts"})),
		s.routeToOnly("catalogue.sock-shop.svc.cluster.local:80", catalogueCluster),
		s.routeToOnly(cartsVHost, cartsCluster),
	} {
		if err := harness.Eventually(converge, 50*time.Millisecond, check); err != nil {
			t.Fatal(err)
		}
	}

	// Status is written only when it changes: more pushes (a new pod, a
	// weight change) leave both objects' resourceVersion alone.
	e.scale("catalogue", "v1", 2)
	e.c.ApplyYAML(demoVirtualService(".*Firefox.*", 60, 40))
	if err := harness.Eventually(converge, 50*time.Millisecond, s.routesAre(frontEndVHost, demoRoutes(60, 40))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a status write loop would show by now
	for _, old := range []*networkingv1alpha3.VirtualService{unknown, bad} {
		now, err := e.c.VirtualService(ns, old.Name)
		if err != nil {
			t.Fatal(err)
		}
		if now.ResourceVersion != old.ResourceVersion {
			t.Errorf("VirtualService %s was written again (resourceVersion %s -> %s) though nothing about it changed; status now %s",
				old.Name, old.ResourceVersion, now.ResourceVersion, kube.FormatStatus(&now.Status))
		}
	}

	// Fix the regex: Accepted, messages cleared, and the route is served.
	e.c.ApplyYAML(cartsRegex(".*Chrome.*"))
	fixed := e.waitStatus("carts-regex", "True", "Accepted", "", "")
	if n := len(fixed.Status.GetValidationMessages()); n != 0 {
		t.Errorf("carts-regex after the fix: %d validation messages left: %s", n, kube.FormatStatus(&fixed.Status))
	}
	err := harness.Eventually(converge, 50*time.Millisecond, s.routesAre(cartsVHost, []Route{
		{Name: "chrome", Regexes: []string{".*Chrome.*"}, To: []string{cartsCluster}},
		{Name: "default", To: []string{cartsCluster}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	s.requireNoNacks(t)
}

// waitStatus waits until VirtualService name has the Reconciled condition
// with status and reason, a message naming field (when not empty), and
// exactly one validation message, level ERROR with code (when not empty).
// It returns the object.
func (e *env) waitStatus(name, status, reason, field, code string) *networkingv1alpha3.VirtualService {
	t := e.t
	t.Helper()
	var vs *networkingv1alpha3.VirtualService
	err := harness.Eventually(converge, 50*time.Millisecond, func() error {
		var err error
		if vs, err = e.c.VirtualService(ns, name); err != nil {
			return err
		}
		st := &vs.Status
		c := kube.Condition(st, "Reconciled")
		if c == nil || c.GetStatus() != status || c.GetReason() != reason {
			return fmt.Errorf("VirtualService %s: status %s, want condition Reconciled=%s reason %s", name, kube.FormatStatus(st), status, reason)
		}
		if field != "" && !strings.Contains(c.GetMessage(), field+":") {
			return harness.Permanent(fmt.Errorf("VirtualService %s: message %q does not name the field %s (as \"%s: <reason>\")", name, c.GetMessage(), field, field))
		}
		if code != "" {
			msgs := st.GetValidationMessages()
			if len(msgs) != 1 || msgs[0].GetLevel() != analysisv1alpha1.AnalysisMessageBase_ERROR || msgs[0].GetType().GetCode() != code {
				return harness.Permanent(fmt.Errorf("VirtualService %s: validationMessages: %s, want one ERROR %s", name, kube.FormatStatus(st), code))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VirtualService %s: %s", name, kube.FormatStatus(&vs.Status))
	return vs
}

// routeToOnly is a check: the virtual host has one route, to cluster.
func (s *sidecar) routeToOnly(vhost, cluster string) func() error {
	return func() error {
		got, err := s.vhostRoutes(vhost)
		if err != nil {
			return err
		}
		if len(got) != 1 || len(got[0].Regexes) != 0 || fmt.Sprint(got[0].To) != fmt.Sprint([]string{cluster}) {
			return fmt.Errorf("sidecar %s: virtual host %s has routes %v, want one route to %s", s.Name, vhost, got, cluster)
		}
		return nil
	}
}
