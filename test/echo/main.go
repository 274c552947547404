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
//
// It prints one "listening on ADDR" line once the socket is bound, then
// serves until SIGTERM or SIGINT, when it shuts down gracefully.
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
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on (the pod's local address and container port)")
	pod := flag.String("pod", os.Getenv("POD_NAME"), "pod name reported in answers (default $POD_NAME)")
	version := flag.String("version", os.Getenv("VERSION"), "version reported in answers (default $VERSION)")
	service := flag.String("service", os.Getenv("SERVICE"), "service name reported in answers (default $SERVICE)")
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

	s := &server{pod: *pod, version: *version, service: *service}
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
	status := http.StatusOK
	switch {
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

	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
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
