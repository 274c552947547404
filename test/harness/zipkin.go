package harness

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
)

// ZipkinSpan is the part of a Zipkin v2 span the tests read.
type ZipkinSpan struct {
	TraceID       string            `json:"traceId"`
	ID            string            `json:"id"`
	ParentID      string            `json:"parentId"`
	Name          string            `json:"name"`
	Kind          string            `json:"kind"`
	Tags          map[string]string `json:"tags"`
	LocalEndpoint struct {
		ServiceName string `json:"serviceName"`
	} `json:"localEndpoint"`
}

// Zipkin is a tiny Zipkin collector: it accepts POST /api/v2/spans (JSON)
// on 127.0.0.1 and keeps the spans, until the test ends.
type Zipkin struct {
	Addr string

	mu    sync.Mutex
	spans []ZipkinSpan
}

// StartZipkin starts a collector on a free 127.0.0.1 port.
func StartZipkin(t testing.TB) *Zipkin {
	t.Helper()
	z := &Zipkin{}
	ln := listenRetrying(t, FreeAddr(t, "127.0.0.1"))
	z.Addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/spans", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		var spans []ZipkinSpan
		if err == nil {
			err = json.Unmarshal(body, &spans)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		z.mu.Lock()
		z.spans = append(z.spans, spans...)
		z.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	serveHTTP(t, ln, mux)
	return z
}

// Spans returns the spans received so far.
func (z *Zipkin) Spans() []ZipkinSpan {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]ZipkinSpan(nil), z.spans...)
}
