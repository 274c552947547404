package e2ekube

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/inject"
	"github.com/pilotlight/pilotlight/test/harness"
)

// forbidden matches the API server's answer to a request RBAC refuses,
// as client-go logs it.
var forbidden = regexp.MustCompile(`(?i)forbidden|cannot (list|watch|get|update|create)`)

// TestKubeRBAC: pilotlight runs with only the permissions of
// deploy/rbac.yaml (the pilotlight ServiceAccount's token, not an admin):
// it syncs and serves the mesh, takes the leader-election Lease, writes
// status on an invalid VirtualService, creates the webhook CA Secret and
// writes deploy/webhook.yaml's caBundle, and no request of it is refused.
func TestKubeRBAC(t *testing.T) {
	e := newSockShop(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	e.c.ApplyManifestFile(filepath.Join(root, "deploy", "namespace.yaml"))
	e.c.ApplyManifestFile(filepath.Join(root, "deploy", "rbac.yaml"))
	e.c.ApplyManifestFile(filepath.Join(root, "deploy", "webhook.yaml"))
	kubeconfig := e.c.ServiceAccountKubeconfig(leaseNamespace, "pilotlight")

	p := e.startPilotAs(kubeconfig, "pilotlight-rbac", "--webhook-addr", harness.FreeAddr(t, "127.0.0.1"), "--capture-image", "pilotlight:test")
	s := e.startSidecar(p, "sleep")
	e.waitDemo(s)

	// Status: the status subresources and the Lease are allowed.
	e.c.ApplyYAML(catalogueUnknownSubset)
	e.waitStatus("catalogue-unknown-subset", "False", "InvalidConfig", unknownSubsetField, "IST0101")
	if holder, err := e.leaseHolder(); err != nil || holder != p.Identity {
		t.Errorf("Lease holder %q (%v), want %s", holder, err, p.Identity)
	}

	// Changes still flow (watches are allowed, not only lists).
	e.scale("catalogue", "v1", 2)
	if err := harness.Eventually(converge, 20*time.Millisecond,
		s.hostsAre(catalogueCluster, e.endpoints(map[string]string{"app": "catalogue"}))); err != nil {
		t.Fatal(err)
	}

	// The webhook: its CA Secret, and the caBundle the leader writes.
	if err := harness.Eventually(converge, 50*time.Millisecond, e.caBundleWritten(inject.WebhookConfigName)); err != nil {
		t.Error(err)
	}

	if m := forbidden.FindString(p.Proc.Logs()); m != "" {
		t.Errorf("pilotlight was refused a request (%q in its log): deploy/rbac.yaml lacks a permission that it uses", m)
	}
	s.requireNoNacks(t)
}
