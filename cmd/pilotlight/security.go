package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/xds"
)

// securityFlags are serve's identity and mTLS flags.
type securityFlags struct {
	stateDir    string
	cacertsDir  string
	trustDomain string
	certTTL     time.Duration
	serverNames []string
}

func (s *securityFlags) addTo(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.stateDir, "state-dir", defaultStateDir(), "folder mode: where the CA, the proxy token key and minted tokens are kept (shared with pilotlight bootstrap)")
	f.StringVar(&s.cacertsDir, "cacerts-dir", "", "folder mode: a CA to use instead of the state folder's, in Istio's cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)")
	f.StringVar(&s.trustDomain, "trust-domain", authn.DefaultTrustDomain, "trust domain of workload identities: spiffe://TRUST-DOMAIN/ns/NS/sa/SA")
	f.DurationVar(&s.certTTL, "workload-cert-ttl", authn.DefaultWorkloadCertTTL, "lifetime of workload certificates; each is renewed at half its life")
	f.StringSliceVar(&s.serverNames, "xds-server-name", nil, "extra DNS names of the xDS server's certificate (localhost and the --xds-addr IP are always in it)")
}

// check refuses flag values that would make no sense.
func (s *securityFlags) check() error {
	switch {
	case s.certTTL < time.Second:
		return fmt.Errorf("--workload-cert-ttl %v: at least 1s", s.certTTL)
	case s.trustDomain == "" || strings.ContainsAny(s.trustDomain, "/:@ "):
		return fmt.Errorf("--trust-domain %q: want a DNS-style name such as cluster.local", s.trustDomain)
	}
	return nil
}

// defaultStateDir is $XDG_STATE_HOME/pilotlight, else ~/.local/state/pilotlight.
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "pilotlight")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "pilotlight")
	}
	return ".pilotlight"
}

// meshIdentity is what serve needs to prove and give identities: the CA,
// the authenticator of proxy tokens, and the xDS port's certificate.
type meshIdentity struct {
	ca            *authn.CA
	authenticator xds.Authenticator
	serving       *authn.ServingCertificate
}

// folderIdentity is the CA and the token authenticator of a state folder.
// serve creates what is missing: the root, published at
// STATE/root-cert.pem for bootstraps, and the token key.
func (s *securityFlags) folderIdentity(log *slog.Logger, xdsAddr string) (*meshIdentity, error) {
	var ca *authn.CA
	var err error
	if s.cacertsDir != "" {
		var files authn.Files
		if files, err = authn.ReadFiles(s.cacertsDir); err == nil {
			ca, err = authn.NewCA(files, s.trustDomain, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("--cacerts-dir: %w", err)
		}
	} else if ca, err = authn.LoadOrCreateStateCA(s.stateDir, s.trustDomain, nil); err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	root, err := authn.PublishRoot(s.stateDir, ca)
	if err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	tokens, err := authn.LoadOrCreateTokenKey(s.stateDir, nil)
	if err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	serving, err := s.servingCertificate(ca, xdsAddr)
	if err != nil {
		return nil, fmt.Errorf("xDS server certificate: %w", err)
	}
	log.Info("folder mode identity", "state-dir", s.stateDir, "root", root, "trust-domain", s.trustDomain)
	return &meshIdentity{ca: ca, authenticator: tokens, serving: serving}, nil
}

// servingCertificate is the xDS port's certificate: localhost, the
// loopback addresses, the --xds-addr IP and --xds-server-name.
func (s *securityFlags) servingCertificate(ca *authn.CA, xdsAddr string, extraNames ...string) (*authn.ServingCertificate, error) {
	names := append([]string{"localhost"}, s.serverNames...)
	names = append(names, extraNames...)
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if host, _, err := net.SplitHostPort(xdsAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			ips = append(ips, ip)
		}
	}
	return authn.NewServingCertificate(ca, names, ips, authn.ServerCertTTL)
}

// bootstrapIdentity is what `pilotlight bootstrap` puts in a bootstrap so
// that the proxy can prove itself: the token file and the root.
type bootstrapIdentity struct {
	stateDir  string
	tokenFile string
	rootCert  string
	tokenTTL  time.Duration
}

func (b *bootstrapIdentity) addTo(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&b.stateDir, "state-dir", defaultStateDir(), "folder mode: the state folder of pilotlight serve (its root certificate and token key)")
	f.StringVar(&b.tokenFile, "token-file", "", "a token file for Envoy to send as it is, e.g. a projected ServiceAccount token (audience pilotlight); default: mint a folder token into STATE/tokens/NS.POD.token")
	f.StringVar(&b.rootCert, "root-cert", "", "root certificate of the xDS server (default STATE/root-cert.pem; in a cluster the istio-ca-root-cert ConfigMap's root-cert.pem)")
	f.DurationVar(&b.tokenTTL, "token-ttl", authn.DefaultTokenTTL, "lifetime of a minted folder token; run bootstrap again before it ends (Envoy re-reads the file on reconnect)")
}

// resolve returns the token file and root certificate to use for a pod,
// minting the pod's folder token when no token file was given.
func (b *bootstrapIdentity) resolve(namespace, pod string) (tokenFile, rootCert string, err error) {
	if b.tokenTTL <= 0 {
		return "", "", fmt.Errorf("--token-ttl %v: must be positive", b.tokenTTL)
	}
	rootCert = b.rootCert
	if rootCert == "" {
		rootCert = authn.StateRootPath(b.stateDir)
	}
	if _, err := os.Stat(rootCert); err != nil {
		return "", "", fmt.Errorf("root certificate: %w (start `pilotlight serve --state-dir %s` first, or pass --root-cert)", err, b.stateDir)
	}
	if b.tokenFile != "" {
		if _, err := os.Stat(b.tokenFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("--token-file: %w", err)
		}
		return b.tokenFile, rootCert, nil
	}
	signer, err := authn.LoadTokenSigner(b.stateDir, nil)
	if err != nil {
		return "", "", fmt.Errorf("token key: %w (start `pilotlight serve --state-dir %s` first, or pass --token-file)", err, b.stateDir)
	}
	token, err := signer.Mint(namespace, pod, b.tokenTTL)
	if err != nil {
		return "", "", err
	}
	tokenFile = authn.TokenPath(b.stateDir, namespace, pod)
	if err := authn.WriteToken(tokenFile, token); err != nil {
		return "", "", err
	}
	return tokenFile, rootCert, nil
}
