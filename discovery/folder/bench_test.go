package folder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A folder with one big file of many documents, or one very large file,
// next to the small file being edited: an edit must cost about what the
// edited file costs, not what the folder holds.
//
//	go test ./discovery/folder -run '^$' -bench Reload -benchtime 5x

// manyServices is n Service documents in one file.
func manyServices(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata: {name: svc-%06d, namespace: load}\nspec: {ports: [{name: http, port: 80}]}\n---\n", i)
	}
	return b.String()
}

// largeFile is one document of about size bytes: a Secret-sized blob of
// comments under one Service.
func largeFile(size int) string {
	line := "# " + strings.Repeat("x", 78) + "\n"
	return serviceYAML("large") + strings.Repeat(line, size/len(line))
}

func benchmarkReload(b *testing.B, big string) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), []byte(big), 0o644); err != nil {
		b.Fatal(err)
	}
	small := filepath.Join(dir, "small.yaml")
	r := newReader(dir, Options{MaxFileSize: 64 << 20})
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r := newReader(dir, Options{MaxFileSize: 64 << 20})
			if _, err := r.read(1, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := r.read(1, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("edit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			tmp := small + ".tmp"
			if err := os.WriteFile(tmp, []byte(serviceYAML(fmt.Sprintf("edit-%d", i))), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(tmp, small); err != nil {
				b.Fatal(err)
			}
			if _, err := r.read(uint64(i+2), nil); err != nil {
				b.Fatal(err)
			}
			if r.parsed != 1 {
				b.Fatalf("parsed %d files, want only the edited one", r.parsed)
			}
		}
	})
}

func BenchmarkReload100kDocuments(b *testing.B) { benchmarkReload(b, manyServices(100_000)) }
func BenchmarkReload50MBFile(b *testing.B)      { benchmarkReload(b, largeFile(50<<20)) }

// BenchmarkReloadEndpointChange: the load harness's mesh (1,000 services
// in 10 namespaces, each file a Service, 10 Pods, an EndpointSlice, a
// DestinationRule and a VirtualService), and one pod's readiness flipped
// in one file: the folder's part of an endpoint change, with the folder
// listed in full, and told (as a Watcher tells it) which file changed.
func BenchmarkReloadEndpointChange(b *testing.B) {
	dir := b.TempDir()
	for s := 0; s < 1000; s++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("svc-%04d.yaml", s)), []byte(loadService(s, false)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, noted := range []bool{false, true} {
		b.Run(fmt.Sprintf("noted=%v", noted), func(b *testing.B) {
			r := newReader(dir, Options{})
			if noted {
				r.listing = newListing()
			}
			if _, err := r.read(1, nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				file := filepath.Join(dir, "svc-0001.yaml")
				if err := os.WriteFile(file+".tmp", []byte(loadService(1, i%2 == 0)), 0o644); err != nil {
					b.Fatal(err)
				}
				if err := os.Rename(file+".tmp", file); err != nil {
					b.Fatal(err)
				}
				if noted {
					r.listing.noteChanged("svc-0001.yaml")
				}
				snap, err := r.read(uint64(i+2), nil)
				if err != nil {
					b.Fatal(err)
				}
				if r.parsed != 1 || len(snap.Problems) > 0 {
					b.Fatalf("parsed %d files, problems %v", r.parsed, snap.Problems)
				}
			}
		})
	}
}

// loadService is one service's file of the load harness's mesh; notReady:
// its first pod is not ready.
func loadService(s int, notReady bool) string {
	name, ns := fmt.Sprintf("svc-%04d", s), fmt.Sprintf("ns-%d", s%10)
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec:\n  selector: {app: %s}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n", name, ns, name)
	var eps strings.Builder
	for p := 0; p < 10; p++ {
		ip, ready := fmt.Sprintf("10.%d.%d.%d", 1+s/250, s%250, 1+p), !(notReady && p == 0)
		status := "True"
		if !ready {
			status = "False"
		}
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s-%d\n  namespace: %s\n  labels: {app: %s, version: v%d}\nspec:\n  containers: [{name: app, image: echo, ports: [{name: http, containerPort: 8080}]}]\nstatus: {phase: Running, podIP: %s, conditions: [{type: Ready, status: \"%s\"}]}\n",
			name, p, ns, name, 1+p%2, ip, status)
		fmt.Fprintf(&eps, "- {addresses: [%s], conditions: {ready: %v}, targetRef: {kind: Pod, name: %s-%d, namespace: %s}}\n", ip, ready, name, p, ns)
	}
	fmt.Fprintf(&b, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s-slice\n  namespace: %s\n  labels: {kubernetes.io/service-name: %s}\naddressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n%s", name, ns, name, eps.String())
	fmt.Fprintf(&b, "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: %[1]s, namespace: %[2]s}\nspec:\n  host: %[1]s\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: %[1]s, namespace: %[2]s}\nspec:\n  hosts: [%[1]s]\n  http:\n  - route:\n    - {destination: {host: %[1]s, subset: v1}, weight: 80}\n    - {destination: {host: %[1]s, subset: v2}, weight: 20}\n", name, ns)
	return b.String()
}
