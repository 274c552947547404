package harness

// Helpers for the VirtualService end-to-end tests: what an echo app saw.

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// EchoRequest is one request an echo app received, as its /_echo/requests
// lists them (test/echo).
type EchoRequest struct {
	Host    string            `json:"host"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
}

// EchoRequests asks the echo app of p on port, directly (not through any
// sidecar), for the requests it received so far, oldest first.
func EchoRequests(p *Pod, port int) ([]EchoRequest, error) {
	var reqs []EchoRequest
	err := GetJSON("http://"+net.JoinHostPort(p.Local, strconv.Itoa(port))+"/_echo/requests", &reqs)
	return reqs, err
}

// WaitEchoRequests polls EchoRequests until ok accepts the requests whose
// path is path, and returns them; at the deadline the error says what was
// seen.
func WaitEchoRequests(p *Pod, port int, path string, timeout time.Duration, ok func([]EchoRequest) bool) ([]EchoRequest, error) {
	var got []EchoRequest
	err := Eventually(timeout, 50*time.Millisecond, func() error {
		all, err := EchoRequests(p, port)
		if err != nil {
			return err
		}
		got = got[:0]
		for _, r := range all {
			if r.Path == path {
				got = append(got, r)
			}
		}
		if !ok(got) {
			return fmt.Errorf("the app of %s saw %d requests for %s: %+v", p.Key(), len(got), path, got)
		}
		return nil
	})
	return got, err
}
