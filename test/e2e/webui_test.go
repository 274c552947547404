package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pilotlight/pilotlight/test/harness"
)

// TestWebUI loads pilotlight's /ui in real headless Chromium after traffic
// through the sock shop: the graph shows the demo's services and
// workloads, an edge per traffic pair with a non-zero request rate, the
// proxies' sync state and no problem; the page logs no console error. A
// screenshot is kept (harness.ArtifactDir).
func TestWebUI(t *testing.T) {
	s := newSockShop(t, map[string]string{"dr.yaml": destinationRuleFrontEnd, "vs.yaml": virtualServiceFirefox})
	s.ServeArgs = append(s.ServeArgs, "--istio-metrics")
	s.Start()
	browser := harness.StartBrowser(t)
	for _, u := range []string{frontEndURL, catalogueURL} {
		if _, err := harness.WaitForRoute(s.client.Client(), u, nil, converge, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		for _, send := range []struct{ url, ua string }{{frontEndURL, chromeUA}, {frontEndURL, firefoxUA}, {catalogueURL, chromeUA}} {
			if a, err := harness.Get(s.client.Client(), send.url, send.ua); err != nil || a.Status != 200 {
				t.Fatalf("GET %s: %v %v", send.url, a, err)
			}
		}
	}
	if err := browser.Run(30*time.Second, chromedp.Navigate(s.HTTPURL("/ui/"))); err != nil {
		t.Fatal(err)
	}
	wantNodes := []string{
		"front-end.sock-shop.svc.cluster.local", "catalogue.sock-shop.svc.cluster.local",
		"sock-shop/sleep", "sock-shop/front-end-v1", "sock-shop/front-end-v2", "sock-shop/catalogue-v1",
	}
	wantEdges := []string{
		"sock-shop/sleep -> front-end.sock-shop.svc.cluster.local",
		"front-end.sock-shop.svc.cluster.local -> sock-shop/front-end-v1",
		"front-end.sock-shop.svc.cluster.local -> sock-shop/front-end-v2",
		"sock-shop/sleep -> catalogue.sock-shop.svc.cluster.local",
		"catalogue.sock-shop.svc.cluster.local -> sock-shop/catalogue-v1",
	}
	type edge struct {
		RPS  float64 `json:"rps"`
		MTLS string  `json:"mtls"`
	}
	var page struct {
		Nodes   []string        `json:"nodes"`
		Edges   map[string]edge `json:"edges"`
		Proxies map[string]int  `json:"proxies"`
	}
	// The page refreshes every 2 s; access logs reach pilotlight within a
	// second or so of the requests.
	err := harness.Eventually(converge, 500*time.Millisecond, func() error {
		err := browser.Eval(`({
			nodes: [...document.querySelectorAll("[data-node]")].map(n => n.dataset.node),
			edges: Object.fromEntries([...document.querySelectorAll("[data-edge]")].map(e => [e.dataset.edge, {rps: +e.dataset.rps, mtls: e.dataset.mtls}])),
			proxies: Object.fromEntries([...document.querySelectorAll("#proxies tbody tr")].map(r => [r.dataset.proxy, [...r.cells].filter(c => c.className === "SYNCED").length])),
		})`, &page)
		if err != nil {
			return err
		}
		for _, n := range wantNodes {
			if !contains(page.Nodes, n) {
				return fmt.Errorf("no node %s on the page (nodes: %v)", n, page.Nodes)
			}
		}
		for _, e := range wantEdges {
			if page.Edges[e].RPS <= 0 {
				return fmt.Errorf("edge %s: rate %v, want > 0 (edges: %v)", e, page.Edges[e].RPS, page.Edges)
			}
			// Sidecars talk mutual TLS to each other (auto-mTLS).
			if page.Edges[e].MTLS != "true" {
				return fmt.Errorf("edge %s: mTLS %q, want true", e, page.Edges[e].MTLS)
			}
		}
		for _, p := range s.Pods {
			if page.Proxies[p.Key()] != 5 {
				return fmt.Errorf("proxy %s: %d types SYNCED on the page, want all five (%v)", p.Key(), page.Proxies[p.Key()], page.Proxies)
			}
		}
		return nil
	})
	shot := filepath.Join(harness.ArtifactDir(t), "webui-graph.png")
	if serr := browser.Screenshot(shot); serr != nil {
		t.Errorf("screenshot: %v", serr)
	} else {
		t.Logf("screenshot: %s", shot)
	}
	if err != nil {
		t.Fatal(err)
	}
	var problems int
	if err := browser.Eval(`document.querySelectorAll("#problems tbody tr").length`, &problems); err != nil || problems != 0 {
		t.Errorf("problems on the page: %d (%v)", problems, err)
	}
	// The explain tab of a proxy: where its routes come from.
	if err := browser.Run(10*time.Second, chromedp.Navigate(s.HTTPURL("/ui/#explain"))); err != nil {
		t.Fatal(err)
	}
	err = harness.Eventually(converge, 300*time.Millisecond, func() error {
		var text string
		js := `(() => { const s = document.querySelector("#explain-proxy"); if (s.value !== "sock-shop/sleep") { s.value = "sock-shop/sleep"; s.dispatchEvent(new Event("change")); } return document.querySelector("#explain").textContent; })()`
		if err := browser.Eval(js, &text); err != nil {
			return err
		}
		if !strings.Contains(text, "route http_proxy") || !strings.Contains(text, "← VirtualService sock-shop/front-end") {
			return fmt.Errorf("explain tab shows %q, want sleep's routes with their VirtualService", short(text))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs := browser.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
