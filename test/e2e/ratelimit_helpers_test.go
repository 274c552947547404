package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Rate limits end to end: real Envoy (gateway and sidecars), the real
// envoyproxy/ratelimit service and a real Redis.

// rlGatewayPort is the ingress gateway's HTTP server port: 80, so that
// Istio's virtual host name is the tutorials' "*:80".
const rlGatewayPort = 80

// rlShop is catalogue (with a sidecar) behind an ingress gateway pod of
// istio-system, with a rate-limit service.
type rlShop struct {
	*harness.Mesh
	gw *harness.Gateway
	rl *harness.RateLimitService
}

// rlShopGateway: the Gateway and VirtualService that route every host on
// port 80 to catalogue.
const rlShopGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [shop]
  http:
  - route:
    - destination: {host: catalogue.sock-shop.svc.cluster.local}
`

// rlShopOptions say how to start an rlShop.
type rlShopOptions struct {
	// rlNamespace is the rate-limit service's namespace.
	rlNamespace string
	// configFiles: the service reads its limits from these files, as a
	// tutorial deploys it with a ConfigMap; none: from pilotlight (xDS).
	configFiles map[string]string
	// files (name -> YAML) go into the mesh's config folder.
	files map[string]string
	// dns: pilotlight answers the mesh's names, for STRICT_DNS clusters.
	dns bool
}

// startRateLimitShop starts the mesh, the gateway and the rate-limit
// service.
func startRateLimitShop(t *testing.T, o rlShopOptions) *rlShop {
	t.Helper()
	m := harness.NewMesh(t, ns)
	m.DNS = o.dns
	m.AddService("catalogue", 80, 8080)
	m.AddPod("catalogue-v1", map[string]string{"app": "catalogue", "version": "v1"})
	gw := harness.AddGatewayIn(m, "istio-system", "ingressgateway", map[string]string{"istio": "ingressgateway"}, rlGatewayPort)
	rl := harness.AddRateLimitService(m, o.rlNamespace)
	rl.ConfigFiles = o.configFiles
	m.WriteFile("shop-gateway.yaml", rlShopGateway)
	for _, name := range sortedNames(o.files) {
		m.WriteFile(name, o.files[name])
	}
	harness.MustFortio(t)
	m.Start()
	gw.Start()
	rl.Start()
	s := &rlShop{Mesh: m, gw: gw, rl: rl}
	if _, err := harness.WaitForRoute(gw.Client(nil), s.gatewayURL(), nil, converge, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *rlShop) gatewayURL() string { return "http://" + s.gw.Addr(rlGatewayPort) + "/" }

// waitServiceConfig waits until every rate-limit service instance has
// ACKed the limits pilotlight serves now.
func (s *rlShop) waitServiceConfig(t *testing.T) {
	t.Helper()
	err := harness.Eventually(converge, 100*time.Millisecond, func() error {
		var st struct {
			Version  string
			Services []struct{ Node, Acked, Nacked, Error string }
		}
		if err := harness.GetJSON(s.HTTPURL("/debug/ratelimit"), &st); err != nil {
			return err
		}
		if st.Version == "" || len(st.Services) == 0 {
			return fmt.Errorf("/debug/ratelimit: version %q, %d services connected", st.Version, len(st.Services))
		}
		for _, svc := range st.Services {
			if svc.Nacked != "" {
				return harness.Permanent(fmt.Errorf("rate-limit service %s rejected %s: %s", svc.Node, svc.Nacked, svc.Error))
			}
			if svc.Acked != st.Version {
				return fmt.Errorf("rate-limit service %s acked %q, want %q", svc.Node, svc.Acked, st.Version)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// planCase is one check of the tutorial: n requests with these headers
// give ok 200s, then 429s.
type planCase struct {
	plan, account string
	n, ok         int
}

// checkPlans runs each case with fortio (`fortio load -c 1 -qps 0 -n N -H
// x-plan: … -H x-account: …`, as the tutorial does) through the gateway.
// The service's windows are wall-clock minutes and its counters live in
// Redis, so every account value is new to this run, and no case starts in
// the last seconds of a minute.
func (s *rlShop) checkPlans(t *testing.T, cases []planCase) {
	t.Helper()
	for _, c := range cases {
		waitMinuteStart(t)
		args := []string{"-c", "1", "-qps", "0", "-n", strconv.Itoa(c.n)}
		if c.plan != "" {
			args = append(args, "-H", "x-plan: "+c.plan)
		}
		if c.account != "" {
			args = append(args, "-H", "x-account: "+c.account)
		}
		r, err := harness.FortioLoad(t, append(args, s.gatewayURL())...)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"200": int64(c.ok)}
		if c.n > c.ok {
			want["429"] = int64(c.n - c.ok)
		}
		if !sameCodes(r.RetCodes, want) {
			t.Errorf("plan %q account %q, %d requests: %v, want %v", c.plan, c.account, c.n, r, want)
		} else {
			t.Logf("plan %q account %q: %v", c.plan, c.account, r)
		}
	}
}

func sameCodes(got, want map[string]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// waitMinuteStart waits out the last 5 s of a wall-clock minute, so that a
// check of a per-minute limit never straddles two windows.
func waitMinuteStart(t *testing.T) {
	now := time.Now()
	if now.Second() < 55 {
		return
	}
	next := now.Truncate(time.Minute).Add(time.Minute + 100*time.Millisecond)
	t.Logf("waiting %v for the next minute's window", next.Sub(now).Round(time.Millisecond))
	time.Sleep(next.Sub(now))
}

// uniqueAccount is an account value no earlier run has counted.
func uniqueAccount(name string) string {
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
}

// gatewayAnswer sends one request with headers through the gateway.
func (s *rlShop) gatewayAnswer(t *testing.T, header http.Header) *harness.Answer {
	t.Helper()
	a, err := harness.Do(s.gw.Client(nil), http.MethodGet, s.gatewayURL(), header)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
