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
