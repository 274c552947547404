// Package image checks what `make image` builds from, since no container
// runtime runs in CI: the Dockerfile pulls nothing but a distroless (or
// scratch) base and copies the binary that `make image-binary` builds, and
// that binary is static, so it runs on such a base.
package image

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/test/harness"
)

func TestDockerfileShipsTheStaticBinary(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var from, copySrc []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			from = append(from, fields[1])
		case "COPY":
			copySrc = append(copySrc, fields[1])
		case "RUN", "ADD":
			t.Errorf("Dockerfile: %s fetches or runs things at build time: %s", fields[0], sc.Text())
		}
	}
	if len(from) != 1 || !(from[0] == "scratch" || strings.HasPrefix(from[0], "gcr.io/distroless/static")) {
		t.Errorf("Dockerfile FROM %v, want one scratch or distroless/static base", from)
	}
	if len(copySrc) != 1 || copySrc[0] != "bin/linux-${TARGETARCH}/pilotlight" {
		t.Fatalf("Dockerfile COPY %v, want bin/linux-${TARGETARCH}/pilotlight (make image-binary)", copySrc)
	}

	cmd := exec.Command("make", "-s", "image-binary", "ARCH="+runtime.GOARCH)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image-binary: %v\n%s", err, out)
	}
	bin := filepath.Join(root, strings.ReplaceAll(copySrc[0], "${TARGETARCH}", runtime.GOARCH))
	exe, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	for _, p := range exe.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked: it would not run on distroless/static", bin)
		}
	}
	if out, err := exec.Command(bin, "init-capture", "--dry-run").CombinedOutput(); err != nil || !strings.Contains(string(out), "table ip pilotlight") {
		t.Errorf("%s init-capture --dry-run: %v\n%s", bin, err, out)
	}
}
