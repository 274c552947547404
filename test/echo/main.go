// Command echo is a tiny HTTP server for demos and end-to-end tests of the
// mesh. It plays the application inside a pod: it answers every request with
// a JSON description of who served it and what it received, so a test can
// tell which pod (and which version) a request through the mesh reached.
//
//	echo --listen 127.20.0.1:8080 --pod front-end-v1 --version v1 --service front-end
//
// Every answer carries the header "x-served-by: <pod>" and a JSON body:
//
//	{"pod": "front-end-v1", "version": "v1", "service": "front-end",
//	 "host": "front-end.sock-shop", "method": "GET", "path": "/",
//	 "headers": {"user-agent": "curl/8.5.0", ...}}
//
// Header names in "headers" are lower case; repeated headers are joined with
// ", ". Special paths:
//
//	/status/<code>  answers with that HTTP status (200..599)
//	/delay/<ms>     waits that many milliseconds (at most 60000) before answering
//	/flaky/<n>/<code>/<key>  answers the first n requests of this path (the
//	                key tells tests apart) with <code>, the later ones as usual
//	/slow/<n>/<ms>/<key>     waits <ms> before answering the first n requests
//	                of this path, answers the later ones at once
//	/_echo/requests lists the requests received so far (the last 1000, this
//	                one and other /_echo/ paths excepted), oldest first, as a
//	                JSON array of {"host", "method", "path", "query", "headers"}
//
// /flaky and /slow count tries: a proxy that retries sends the same path
// again, so a test sees how many tries a request took and what the retries
// achieved.
//
// It prints one "listening on ADDR" line once the socket is bound, then
// serves until SIGTERM or SIGINT, when it shuts down gracefully.
//
// With --mode tcp or --mode tls (--cert, --key) it is a line echo server
// for TCP routes instead; see stream.go.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxDelay bounds /delay/<ms> so a typo cannot hang a test for hours.
const maxDelay = 60 * time.Second

// Response is the JSON body of every answer.
type Response struct {
	Pod     string            `json:"pod"`
	Version string            `json:"version"`
	Service string            `json:"service"`
	Host    string            `json:"host"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
}

type server struct {
	pod, version, service string

	mu       sync.Mutex
	tries    map[string]int // /flaky and /slow: requests so far, by path
	received []Request      // the last maxReceived requests, for /_echo/requests
}

// Request is one entry of /_echo/requests.
type Request struct {
	Host    string            `json:"host"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query,omitempty"`
	Headers map[string]string `json:"headers"`
}

const (
	maxReceived = 1000
	maxTries    = 10000 // paths counted before the counts start over
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on (the pod's local address and container port)")
	pod := flag.String("pod", os.Getenv("POD_NAME"), "pod name reported in answers (default $POD_NAME)")
	version := flag.String("version", os.Getenv("VERSION"), "version reported in answers (default $VERSION)")
	service := flag.String("service", os.Getenv("SERVICE"), "service name reported in answers (default $SERVICE)")
	mode := flag.String("mode", "http", "http, or tcp/tls for a stream echo (see stream.go)")
	certFile := flag.String("cert", "", "PEM certificate chain for --mode tls")
	keyFile := flag.String("key", "", "PEM private key for --mode tls")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "echo: unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("echo: %v", err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	s := &server{pod: *pod, version: *version, service: *service, tries: map[string]int{}}
	if *mode != "http" {
		if err := serveStream(ln, s, *mode, *certFile, *keyFile); err != nil {
			log.Fatalf("echo: %v", err)
		}
		return
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		log.Fatalf("echo: %v", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Printf("echo: shutdown: %v", err)
	}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	if r.URL.Path == "/_echo/requests" {
		s.serveReceived(w)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/_echo/") {
		s.record(Request{Host: r.Host, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: headers})
	}

	status := http.StatusOK
	switch {
	case strings.HasPrefix(r.URL.Path, "/flaky/"), strings.HasPrefix(r.URL.Path, "/slow/"):
		kind, n, arg, ok := parseTries(r.URL.Path)
		if !ok {
			http.Error(w, "bad path: want /flaky/<n>/<code>/<key> or /slow/<n>/<ms>/<key>", http.StatusBadRequest)
			return
		}
		if s.try(r.URL.Path) <= n {
			if kind == "flaky" {
				if arg < 200 || arg > 599 {
					http.Error(w, "bad status code: want 200..599", http.StatusBadRequest)
					return
				}
				status = arg
			} else if !sleep(r, time.Duration(arg)*time.Millisecond) {
				return
			}
		}
	case strings.HasPrefix(r.URL.Path, "/status/"):
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if err != nil || code < 200 || code > 599 {
			http.Error(w, "bad status code: want /status/<200..599>", http.StatusBadRequest)
			return
		}
		status = code
	case strings.HasPrefix(r.URL.Path, "/delay/"):
		ms, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/delay/"))
		if err != nil || ms < 0 {
			http.Error(w, "bad delay: want /delay/<milliseconds>", http.StatusBadRequest)
			return
		}
		d := min(time.Duration(ms)*time.Millisecond, maxDelay)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}

	body, err := json.Marshal(Response{
		Pod:     s.pod,
		Version: s.version,
		Service: s.service,
		Host:    r.Host,
		Method:  r.Method,
		Path:    r.URL.Path,
		Headers: headers,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("X-Served-By", s.pod)
	if status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status) // no body allowed
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(append(body, '\n'))
	}
}

// sleep waits d (at most maxDelay), or until the client goes away; it
// reports whether the request is still wanted.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(min(d, maxDelay))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// parseTries reads /flaky/<n>/<code>/<key> and /slow/<n>/<ms>/<key>.
func parseTries(path string) (kind string, n, arg int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 4)
	if len(parts) != 4 || parts[3] == "" {
		return "", 0, 0, false
	}
	n, err1 := strconv.Atoi(parts[1])
	arg, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || n < 0 || arg < 0 {
		return "", 0, 0, false
	}
	return parts[0], n, arg, true
}

// try counts one more request of path and returns its number, from 1.
func (s *server) try(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tries) >= maxTries {
		s.tries = map[string]int{}
	}
	s.tries[path]++
	return s.tries[path]
}

func (s *server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.received) == maxReceived {
		s.received = append(s.received[:0], s.received[1:]...)
	}
	s.received = append(s.received, r)
}

func (s *server) serveReceived(w http.ResponseWriter) {
	s.mu.Lock()
	body, err := json.Marshal(s.received)
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if string(body) == "null" {
		body = []byte("[]")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Served-By", s.pod)
	w.Write(append(body, '\n'))
}
