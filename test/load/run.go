package load

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate"
)

// Point is one load point: a mesh, how many sidecars connect and how, and
// how many changes of each kind to time.
type Point struct {
	Mesh
	Proxies int
	Delta   bool
	// Source is "folder" (pilotlight serve --config-dir on a generated
	// folder) or "kube" (the kube-apiserver of test/kube).
	Source          string
	EndpointChanges int
	RouteChanges    int
	// ServerArgs are added to `pilotlight serve`.
	ServerArgs []string
	// Credentials of the sidecars (nil: the source's, a token per pod and
	// the mesh root, as pilotlight bootstrap or a cluster hands them out).
	Credentials Credentials
	// Timeout bounds each wait: the cold sync, each change.
	Timeout time.Duration
	// Profiles: a folder for the server's Go profiles (serve --pprof): its
	// heap once synced, its CPU during the cold sync and the changes, and
	// an execution trace of the first endpoint changes.
	Profiles string
	// WarmHeap grows the harness's own heap before the cold sync, so the
	// sync is not timed with the harness's page faults (heap.go).
	WarmHeap bool
}

func (p Point) protocol() string {
	if p.Delta {
		return "delta"
	}
	return "sotw"
}

func (p Point) String() string {
	scoped := ""
	if p.Scoped {
		scoped = ", scoped"
	}
	return fmt.Sprintf("%s %d×%d, %d ns%s, %d proxies, %s", p.Source, p.Services, p.Endpoints, p.namespaces(), scoped, p.Proxies, p.protocol())
}

// Result is what a point measured.
type Result struct {
	Point Point
	// Cold sync: from the first sidecar connecting until the last one had
	// everything (and ACKed it); the server's CPU time meanwhile; the bytes
	// each sidecar received (mean).
	ColdSync, ColdSyncP50, ColdSyncP99 time.Duration
	ColdSyncCPU                        time.Duration
	ColdSyncBytes                      float64
	// Server memory: resident before any sidecar connected (after the
	// mesh was loaded), after the cold sync once quiet, and the peak
	// during the cold sync.
	IdleRSS, SyncedRSS, PeakRSS int64
	Endpoint, Route             ChangeResult
}

// RSSPerProxy is the resident memory per connected sidecar above idle.
func (r *Result) RSSPerProxy() float64 {
	return float64(r.SyncedRSS-r.IdleRSS) / float64(max(r.Point.Proxies, 1))
}

// ChangeResult sums up the changes of one kind.
type ChangeResult struct {
	Changes int
	// Proxies: how many sidecars held what each change was about (mean).
	Proxies float64
	// From the edit until a sidecar had the new content and ACKed it, over
	// every sidecar and change.
	P50, P99, Max time.Duration
	// CPU: the server's CPU time per change, from the edit until it was
	// quiet again (mean).
	CPU time.Duration
	// Bytes and resources (of the change's type) a sidecar received per
	// change, mean over the sidecars that held it.
	BytesPerProxy, ResourcesPerProxy float64

	samples []time.Duration // every sidecar's latency, of every change
}

// coldSyncProfile is how long the CPU profile of a cold sync runs.
const coldSyncProfile = 20 * time.Second

// Run measures one point. It fails the test when a sidecar's stream fails
// or a wait times out.
func Run(t testing.TB, p Point) *Result {
	t.Helper()
	if p.Timeout == 0 {
		p.Timeout = 5 * time.Minute
	}
	var src source
	switch p.Source {
	case "", "folder":
		p.Source, src = "folder", &folderSource{}
	case "kube":
		src = &kubeSource{}
	default:
		t.Fatalf("load: unknown source %q (folder or kube)", p.Source)
	}
	r := &Result{Point: p}
	args := p.ServerArgs
	if p.Profiles != "" {
		args = append(slices.Clone(args), "--pprof")
	}
	srv := src.start(t, p.Mesh, p.Proxies, args)
	if p.Credentials == nil {
		p.Credentials = srv.creds
	}
	proc := srv.process()
	if err := proc.quiet(p.Timeout); err != nil {
		t.Fatal(err)
	}
	r.IdleRSS, _ = mustMemory(t, proc)

	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	t.Cleanup(func() { cancel(); running.Wait() })
	n, secrets, clusters := newNames(), newSecretsOf(), newNeedsOf()
	pods := p.proxies(p.Proxies)
	sidecars := make([]*sidecar, len(pods))
	for i, pod := range pods {
		sidecars[i] = newSidecar(Proxy{NodeID: pod.NodeID(), Namespace: pod.Namespace, Pod: pod.Name}, p.Delta, n, secrets, clusters)
	}
	if p.WarmHeap {
		warmHeap(t, heapFor(p))
	}
	if err := proc.resetPeak(); err != nil {
		t.Logf("load: cannot reset the peak RSS (%v): the peak is since the server started", err)
	}
	stopSyncProfile := func() {}
	if p.Profiles != "" {
		// The first seconds of the cold sync, which are all of it on a
		// small point.
		stopSyncProfile = startCPUProfile(t, srv, filepath.Join(p.Profiles, fmt.Sprintf("cpu-cold-sync-%s.pb.gz", p.protocol())), coldSyncProfile)
	}
	cpu0 := mustCPU(t, proc)
	start := time.Now()
	for _, s := range sidecars {
		running.Add(1)
		go func() { defer running.Done(); s.run(ctx, srv.xdsAddr, p.Credentials) }()
	}
	syncTimes := make([]time.Duration, 0, len(sidecars))
	for _, s := range sidecars {
		if err := waitFor(s, s.synced, start.Add(p.Timeout)); err != nil {
			t.Fatalf("load: sidecar %s: cold sync: %v", s.proxy.NodeID, err)
		}
		syncTimes = append(syncTimes, s.syncedAt.Sub(start))
	}
	r.ColdSyncCPU = mustCPU(t, proc) - cpu0
	stopSyncProfile()
	r.ColdSyncP50, r.ColdSyncP99, r.ColdSync = percentiles(syncTimes)
	var bytes int64
	for _, s := range sidecars {
		bytes += s.bytes.Load()
	}
	r.ColdSyncBytes = float64(bytes) / float64(max(len(sidecars), 1))
	t.Logf("load: cold sync: one sidecar's responses and resources, by type: %v", sidecars[0].counts())
	if err := proc.quiet(p.Timeout); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // let the runtime give back what the sync used
	r.SyncedRSS, r.PeakRSS = mustMemory(t, proc)
	stopProfile := func() {}
	if p.Profiles != "" {
		saveProfile(t, srv, "heap?gc=1", filepath.Join(p.Profiles, fmt.Sprintf("heap-synced-%s.pb.gz", p.protocol())))
		stopCPU := startCPUProfile(t, srv, filepath.Join(p.Profiles, fmt.Sprintf("cpu-endpoint-changes-%s.pb.gz", p.protocol())), time.Duration(p.EndpointChanges)*4*time.Second)
		// The first changes' timeline: when the folder was read, the views
		// built, and each stream woken and written.
		stopTrace := startTrace(t, srv, filepath.Join(p.Profiles, fmt.Sprintf("trace-endpoint-changes-%s.out", p.protocol())), 8*time.Second)
		stopProfile = func() { stopCPU(); stopTrace() }
	}

	svcs := p.services()
	for i := 0; i < p.EndpointChanges; i++ {
		svc := svcs[(1+i/2*97)%len(svcs)]
		target, ready := svc.Pods[0], i%2 == 1 // not ready, then ready again
		c := &change{Kind: "endpoint", TypeURL: resourcev3.EndpointType, Want: map[string]func([]byte) bool{}}
		for _, subset := range []string{"", target.Version} {
			c.Want[outboundCluster(svc, subset)] = func(raw []byte) bool { return claHas(raw, target.IP) == ready }
		}
		measureChange(t, &r.Endpoint, srv, sidecars, c, p.Timeout, func() { src.setReady(t, svc, target, ready) })
	}
	stopProfile()
	if p.Profiles != "" {
		stopProfile = startCPUProfile(t, srv, filepath.Join(p.Profiles, fmt.Sprintf("cpu-route-changes-%s.pb.gz", p.protocol())), time.Duration(p.RouteChanges)*8*time.Second)
	}
	for i := 0; i < p.RouteChanges; i++ {
		svc := svcs[(2+i/2*89)%len(svcs)]
		w := changedWeights
		if i%2 == 1 {
			w = defaultWeights
		}
		c := &change{Kind: "route", TypeURL: resourcev3.RouteType, Want: map[string]func([]byte) bool{
			translate.HTTPProxyRouteName: func(raw []byte) bool { return hasWeights(raw, virtualHost(svc), w) },
		}}
		measureChange(t, &r.Route, srv, routeHolders(sidecars, svc, p.Scoped), c, p.Timeout, func() { src.setWeights(t, svc, w) })
	}
	stopProfile()
	for _, s := range sidecars {
		if err := s.failure(); err != nil {
			t.Fatalf("load: sidecar %s: %v", s.proxy.NodeID, err)
		}
	}
	return r
}

// routeHolders are the sidecars whose route table has svc's virtual host:
// all of them, or with scoping (each namespace's Sidecar admits only its
// own namespace) those of svc's namespace. Every sidecar has a route table
// of the same name, so the name alone does not tell.
func routeHolders(sidecars []*sidecar, svc service, scoped bool) []*sidecar {
	if !scoped {
		return sidecars
	}
	var out []*sidecar
	for _, s := range sidecars {
		if s.proxy.Namespace == svc.Namespace {
			out = append(out, s)
		}
	}
	return out
}

// measureChange makes one change and adds what it cost to cr.
func measureChange(t testing.TB, cr *ChangeResult, srv *server, sidecars []*sidecar, c *change, timeout time.Duration, edit func()) {
	proc := srv.process()
	t.Helper()
	type watched struct {
		s *sidecar
		w *watching
	}
	var ws []watched
	for _, s := range sidecars {
		if w := s.watchChange(c); w != nil {
			ws = append(ws, watched{s, w})
		}
	}
	if len(ws) == 0 {
		t.Fatalf("load: no sidecar holds what the %s change is about (%v)", c.Kind, slices.Collect(mapKeys(c.Want)))
	}
	cpu0 := mustCPU(t, proc)
	start := time.Now()
	edit()
	lat := make([]time.Duration, 0, len(ws))
	for _, x := range ws {
		if err := waitFor(x.s, x.w.arrived, start.Add(timeout)); err != nil {
			t.Fatalf("load: sidecar %s: %s change: %v", x.s.proxy.NodeID, c.Kind, err)
		}
		lat = append(lat, x.w.done.Sub(start))
	}
	if err := proc.quiet(timeout); err != nil {
		t.Fatal(err)
	}
	cpu := mustCPU(t, proc) - cpu0
	pushes := pushKinds(srv)
	var bytes int64
	var resources int
	for _, x := range ws {
		x.s.mu.Lock()
		bytes += x.s.bytes.Load() - x.w.bytesAt
		resources += x.w.resources
		x.s.watch = nil
		x.s.mu.Unlock()
	}
	p50, p99, mx := percentiles(lat)
	// Running means over the changes of this kind.
	k := float64(cr.Changes)
	mean := func(old, v float64) float64 { return (old*k + v) / (k + 1) }
	cr.Proxies = mean(cr.Proxies, float64(len(ws)))
	cr.BytesPerProxy = mean(cr.BytesPerProxy, float64(bytes)/float64(len(ws)))
	cr.ResourcesPerProxy = mean(cr.ResourcesPerProxy, float64(resources)/float64(len(ws)))
	cr.CPU = time.Duration(mean(float64(cr.CPU), float64(cpu)))
	cr.samples = append(cr.samples, lat...)
	cr.P50, cr.P99, cr.Max = percentiles(cr.samples)
	cr.Changes++
	t.Logf("load: %s change %d: %d sidecars, p50 %v p99 %v max %v, server CPU %v, %.0f bytes and %.1f resources per sidecar; pushes so far by kind: %s",
		c.Kind, cr.Changes, len(ws), p50, p99, mx, cpu, float64(bytes)/float64(len(ws)), float64(resources)/float64(len(ws)), pushes)
}

// waitFor waits until done is closed, the sidecar's stream failed, or the
// deadline.
func waitFor(s *sidecar, done <-chan struct{}, deadline time.Time) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
			if err := s.failure(); err != nil {
				return fmt.Errorf("stream failed: %w", err)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("timed out")
			}
		}
	}
}

func percentiles(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99), s[len(s)-1]
}

func mustCPU(t testing.TB, p process) time.Duration {
	t.Helper()
	d, err := p.cpu()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustMemory(t testing.TB, p process) (rss, peak int64) {
	t.Helper()
	rss, peak, err := p.memory()
	if err != nil {
		t.Fatal(err)
	}
	return rss, peak
}

// claHas: a load assignment has an endpoint at ip.
func claHas(raw []byte, ip string) bool {
	cla := &endpoint.ClusterLoadAssignment{}
	if proto.Unmarshal(raw, cla) != nil {
		return false
	}
	for _, group := range cla.GetEndpoints() {
		for _, lb := range group.GetLbEndpoints() {
			if lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress() == ip {
				return true
			}
		}
	}
	return false
}

// hasWeights: the virtual host of a route table splits v1/v2 as w.
func hasWeights(raw []byte, vhost string, w weights) bool {
	vh := &route.VirtualHost{}
	b := virtualHostBytes(raw, vhost)
	if b == nil || proto.Unmarshal(b, vh) != nil {
		return false
	}
	for _, r := range vh.GetRoutes() {
		got := weights{}
		for _, c := range r.GetRoute().GetWeightedClusters().GetClusters() {
			_, subset, _, _ := translate.ParseOutboundClusterName(c.GetName())
			switch subset {
			case "v1":
				got.v1 = c.GetWeight().GetValue()
			case "v2":
				got.v2 = c.GetWeight().GetValue()
			}
		}
		if got == w {
			return true
		}
	}
	return false
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
