package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser is real headless Chromium (Debian's chromium package), driven
// over the DevTools protocol. It records every console error and uncaught
// exception of the pages it loads. It stops when the test ends.
type Browser struct {
	t      testing.TB
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

var (
	chromiumOnce sync.Once
	chromiumPath string
	chromiumErr  error
)

// ChromiumPath finds the browser: $CHROMIUM_BIN, else what
// scripts/ensure-chromium.sh finds or installs (apt-get).
func ChromiumPath(t testing.TB) string {
	t.Helper()
	chromiumOnce.Do(func() {
		if p := os.Getenv("CHROMIUM_BIN"); p != "" {
			chromiumPath = p
			return
		}
		root, err := RepoRoot()
		if err != nil {
			chromiumErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "ensure-chromium.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		chromiumPath, chromiumErr = strings.TrimSpace(string(out)), err
	})
	if chromiumErr != nil || chromiumPath == "" {
		t.Fatalf("harness: no Chromium (scripts/ensure-chromium.sh): %v", chromiumErr)
	}
	return chromiumPath
}

// StartBrowser starts headless Chromium with a fresh profile and with
// everything that would reach out to the network on its own turned off.
func StartBrowser(t testing.TB) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1400, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{t: t, ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				b.record(fmt.Sprintf("console.%s: %s", ev.Type, consoleArgs(ev.Args)))
			}
		case *runtime.EventExceptionThrown:
			b.record("uncaught exception: " + ev.ExceptionDetails.Error())
		}
	})
	// The first action starts the browser.
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("harness: starting Chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return b
}

func consoleArgs(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		if a.Value != nil {
			parts = append(parts, string(a.Value))
		} else {
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

func (b *Browser) record(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

// Errors are the console errors and uncaught exceptions so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Run runs chromedp actions, bounded in time.
func (b *Browser) Run(timeout time.Duration, actions ...chromedp.Action) error {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, actions...)
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func (b *Browser) Eval(js string, out any) error {
	return b.Run(10*time.Second, chromedp.Evaluate(js, out))
}

// Screenshot saves a PNG of the whole page.
func (b *Browser) Screenshot(path string) error {
	var png []byte
	if err := b.Run(20*time.Second, chromedp.FullScreenshot(&png, 100)); err != nil { // 100: PNG (lower: JPEG)
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// ArtifactDir is where a test keeps what a person should look at after the
// run (screenshots): $E2E_ARTIFACTS when set, else test/e2e/.artifacts
// (git-ignored) under the repository.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			t.Fatalf("harness: %v", err)
		}
		dir = filepath.Join(root, "test", "e2e", ".artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return dir
}
