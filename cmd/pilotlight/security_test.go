package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/authn"
)

// --cacerts-dir: a user's CA (Istio's cacerts files) replaces the state
// folder's own, and its root is what the state folder publishes for
// bootstraps.
func TestFolderIdentityWithCacerts(t *testing.T) {
	cacerts := t.TempDir()
	files, err := authn.NewSelfSignedFiles("example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{authn.CACertFile: files.CACert, authn.CAKeyFile: files.CAKey, authn.RootCertFile: files.RootCert} {
		if err := os.WriteFile(filepath.Join(cacerts, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(t.TempDir(), "state")
	s := securityFlags{stateDir: state, cacertsDir: cacerts, trustDomain: "example.org"}
	id, err := s.folderIdentity(slog.New(slog.NewTextHandler(io.Discard, nil)), "127.0.0.1:15010")
	if err != nil {
		t.Fatal(err)
	}
	if string(id.ca.RootsPEM()) != string(files.RootCert) {
		t.Error("the CA is not the cacerts one")
	}
	published, err := os.ReadFile(authn.StateRootPath(state))
	if err != nil || string(published) != string(files.RootCert) {
		t.Errorf("published root differs from cacerts' root-cert.pem (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(state, "ca")); !os.IsNotExist(err) {
		t.Errorf("a self-signed CA was made beside --cacerts-dir: %v", err)
	}
	c, err := id.ca.IssueWorkload(authn.Identity{Namespace: "shop", ServiceAccount: "web"}, time.Hour)
	if err != nil || c.Leaf.URIs[0].String() != "spiffe://example.org/ns/shop/sa/web" {
		t.Errorf("issued %v, %v", c, err)
	}

	s.cacertsDir = t.TempDir() // empty: no ca-cert.pem
	if _, err := s.folderIdentity(slog.New(slog.NewTextHandler(io.Discard, nil)), "127.0.0.1:15010"); err == nil {
		t.Error("an empty --cacerts-dir was accepted")
	}
}
