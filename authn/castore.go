package authn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Folder mode keeps the CA in a state folder that `pilotlight serve` and
// `pilotlight bootstrap` share (--state-dir):
//
//	STATE/ca/ca-cert.pem, ca-key.pem (0600), root-cert.pem, cert-chain.pem
//	STATE/root-cert.pem         the published root: what Envoy's bootstrap trusts
//	STATE/token-key.pem (0600)  the key that signs proxy tokens (token.go)
//	STATE/tokens/NS.POD.token   the tokens `pilotlight bootstrap` minted (0600)
//
// The folder is 0700 and the keys 0600: whoever can read them can act as
// any proxy, which is the local user who runs the mesh.

// caSubdir holds the CA's files inside a state folder.
const caSubdir = "ca"

// ReadFiles reads a CA folder in Istio's cacerts layout (see Files).
// cert-chain.pem is optional; root-cert.pem defaults to ca-cert.pem.
func ReadFiles(dir string) (Files, error) {
	var f Files
	var err error
	if f.CACert, err = os.ReadFile(filepath.Join(dir, CACertFile)); err != nil {
		return Files{}, err
	}
	if f.CAKey, err = os.ReadFile(filepath.Join(dir, CAKeyFile)); err != nil {
		return Files{}, err
	}
	if f.RootCert, err = os.ReadFile(filepath.Join(dir, RootCertFile)); errors.Is(err, fs.ErrNotExist) {
		f.RootCert, err = f.CACert, nil
	}
	if err != nil {
		return Files{}, err
	}
	if f.CertChain, err = os.ReadFile(filepath.Join(dir, CertChainFile)); errors.Is(err, fs.ErrNotExist) {
		f.CertChain, err = f.CACert, nil
	}
	return f, err
}

// LoadOrCreateStateCA returns the CA of a state folder, creating the folder
// and a self-signed root in it on first use. Two processes that start at
// once both end up with the one that was written first.
func LoadOrCreateStateCA(stateDir, trustDomain string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	dir := filepath.Join(stateDir, caSubdir)
	f, err := ReadFiles(dir)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = createStateCA(stateDir, dir, trustDomain, now())
	}
	if err != nil {
		return nil, fmt.Errorf("CA in %s: %w", dir, err)
	}
	ca, err := NewCA(f, trustDomain, now)
	if err != nil {
		return nil, fmt.Errorf("CA in %s: %w", dir, err)
	}
	return ca, nil
}

// createStateCA writes a new root into a temporary folder and renames it
// into place. The rename fails when another process got there first; then
// its CA is read instead.
func createStateCA(stateDir, dir, trustDomain string, now time.Time) (Files, error) {
	f, err := NewSelfSignedFiles(trustDomain, now)
	if err != nil {
		return Files{}, err
	}
	tmp, err := os.MkdirTemp(stateDir, ".ca-")
	if err != nil {
		return Files{}, err
	}
	defer os.RemoveAll(tmp)
	for name, data := range map[string][]byte{CACertFile: f.CACert, CAKeyFile: f.CAKey, RootCertFile: f.RootCert, CertChainFile: f.CertChain} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
			return Files{}, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if other, rerr := ReadFiles(dir); rerr == nil {
			return other, nil
		}
		return Files{}, err
	}
	return f, nil
}

// PublishRoot writes the CA's root bundle to STATE/root-cert.pem (the
// folder's istio-ca-root-cert), replacing it atomically.
func PublishRoot(stateDir string, ca *CA) (string, error) {
	path := StateRootPath(stateDir)
	return path, writeFileAtomic(path, ca.RootsPEM(), 0o644)
}

// StateRootPath is where a state folder publishes its root bundle.
func StateRootPath(stateDir string) string { return filepath.Join(stateDir, RootCertFile) }

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, so that a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
