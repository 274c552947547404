package e2e

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestAuthorizationPolicyTCP: on a TCP port the policies are a network
// RBAC filter in front of the inbound tcp_proxy: a denied connection is
// closed before the app sees it. L4 fields apply as written; an ALLOW rule
// with an HTTP-only field is left out (it allows nothing) and a DENY rule
// ignores its HTTP-only field (it denies everything else it matches), as
// in Istio, and both are reported.
// tcpEchoMesh is the service tcp-echo (one TCP port) with one pod behind a
// sidecar, whose stream app the test starts after m.Start.
func tcpEchoMesh(t *testing.T) (*harness.Mesh, *harness.Pod) {
	m := harness.NewMesh(t, ns)
	m.Services = append(m.Services, &harness.Service{Name: "tcp-echo", Namespace: ns, Selector: map[string]string{"app": "tcp-echo"},
		Ports: []harness.ServicePort{{Name: "tcp", Port: tcpEchoPort, TargetPort: tcpEchoPort}}})
	app := m.AddPod("tcp-echo-v1", map[string]string{"app": "tcp-echo", "version": "v1"})
	app.NoApp, app.Ports = true, []harness.ContainerPort{{Name: "tcp", Port: tcpEchoPort}}
	return m, app
}

func TestAuthorizationPolicyTCP(t *testing.T) {
	m, app := tcpEchoMesh(t)
	client := m.AddClient("sleep")
	m.Start()
	harness.StartStreamApp(m, app, tcpEchoPort, "tcp", "", "")
	addr := net.JoinHostPort(client.Local, strconv.Itoa(tcpEchoPort))
	tcpPolicy := func(name, spec string) string {
		return policyIn(ns, name, "  selector:\n    matchLabels:\n      app: tcp-echo\n"+spec)
	}
	steps := []struct {
		name, policies string
		connects       bool
		problem        string
	}{
		{"no policy", "", true, ""},
		{"DENY ipBlocks", tcpPolicy("deny-local", `  action: DENY
  rules:
  - from:
    - source:
        ipBlocks: ["127.0.0.0/8"]
`), false, ""},
		{"ALLOW ports", tcpPolicy("allow-port", `  rules:
  - to:
    - operation:
        ports: ["9000"]
`), true, ""},
		{"ALLOW with an HTTP-only field allows nothing", tcpPolicy("allow-path", `  rules:
  - to:
    - operation:
        paths: ["/x"]
`), false, "to[0].operation.paths only apply to HTTP, and the policy applies to TCP port 9000 of sock-shop/tcp-echo-v1: there the rule is left out"},
		{"ALLOW notIpBlocks", tcpPolicy("allow-others", `  rules:
  - from:
    - source:
        notIpBlocks: ["10.0.0.0/8"]
`), true, ""},
		{"DENY with an HTTP-only field denies all it matches", tcpPolicy("deny-get", `  action: DENY
  rules:
  - to:
    - operation:
        methods: ["GET"]
        ports: ["9000"]
`), false, "to[0].operation.methods only apply to HTTP, and the policy applies to TCP port 9000 of sock-shop/tcp-echo-v1: there those fields are ignored"},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.policies != "" {
				m.WriteFile("policy.yaml", step.policies)
			}
			err := harness.Eventually(converge, 50*time.Millisecond, func() error {
				h, err := harness.DialStream(addr, nil)
				switch {
				case step.connects && err != nil:
					return err
				case !step.connects && err == nil:
					return fmt.Errorf("connected to %s (%s)", addr, h.Pod)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("want connects=%v: %v", step.connects, err)
			}
			// Every new connection gets the same answer.
			for i := 0; i < 5; i++ {
				if _, err := harness.DialStream(addr, nil); (err == nil) != step.connects {
					t.Errorf("connection %d: err %v, want connects=%v", i, err, step.connects)
				}
			}
			if step.problem != "" {
				waitProblem(t, m, "AuthorizationPolicy", "", step.problem)
			}
		})
	}
	stats, err := harness.EnvoyStats(app.Admin(), `^tcp\.rbac\.denied$`)
	if err != nil || stats["tcp.rbac.denied"] == 0 {
		t.Errorf("the network RBAC filter's tcp.rbac.denied: %v, %v; want the denials counted", stats, err)
	}
}
