package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OutboundPort is the sidecar's HTTP proxy port on the pod's local address.
const OutboundPort = 15001

// AdminPort is the sidecar's admin port on the pod's local address.
const AdminPort = 15000

// direct is for the harness's own calls to pilotlight and Envoy admin: no
// proxy (whatever HTTP_PROXY says), no pooled connections left behind.
var direct = &http.Client{
	Timeout: 5 * time.Second,
	Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	},
}

// DirectClient is a client outside the mesh: no proxy, no sidecar, a new
// connection per request. It talks to pod IPs directly, as a pod without a
// sidecar (or a node) would.
func DirectClient() *http.Client { return direct }

// ProxyClient returns a client that sends every request through the sidecar
// outbound proxy at http://localAddr:15001, the way an app with HTTP_PROXY
// set would (absolute-form request line, Host from the URL). Each request
// uses a new connection (no keep-alive), so a request never rides on a
// connection that an earlier listener or route config accepted, and no
// connection outlives the test.
func ProxyClient(localAddr string) *http.Client {
	proxy := &url.URL{Scheme: "http", Host: net.JoinHostPort(localAddr, fmt.Sprint(OutboundPort))}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:              http.ProxyURL(proxy),
			DisableKeepAlives:  true,
			DisableCompression: true,
			DialContext:        (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		},
		// A redirect is an answer to look at, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// EchoResponse is the JSON body the echo app (test/echo) answers with.
type EchoResponse struct {
	Pod     string            `json:"pod"`
	Version string            `json:"version"`
	Service string            `json:"service"`
	Host    string            `json:"host"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
}

// Answer is one HTTP answer. Echo is set when the body came from the echo
// app (an answer made by Envoy itself, like a 503, has none).
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	Echo   *EchoResponse
	// ServedBy is the x-served-by header: the echo pod that answered.
	ServedBy string
}

func (a *Answer) String() string {
	if a == nil {
		return "<no answer>"
	}
	body := string(a.Body)
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	return fmt.Sprintf("%d served-by=%q body=%q", a.Status, a.ServedBy, body)
}

// Do sends one request and reads the whole answer. header may be nil.
func Do(c *http.Client, method, rawURL string, header http.Header) (*Answer, error) {
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", method, rawURL, err)
	}
	a := &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body, ServedBy: resp.Header.Get("X-Served-By")}
	if a.ServedBy != "" && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var e EchoResponse
		if json.Unmarshal(body, &e) == nil {
			a.Echo = &e
		}
	}
	return a, nil
}

// Get is Do with GET; ua, when not empty, is the User-Agent.
func Get(c *http.Client, rawURL, ua string) (*Answer, error) {
	var h http.Header
	if ua != "" {
		h = http.Header{"User-Agent": {ua}}
	}
	return Do(c, http.MethodGet, rawURL, h)
}

// WaitHTTP polls url (directly, no proxy) until it answers 2xx.
func WaitHTTP(rawURL string, timeout time.Duration) error {
	return Eventually(timeout, 50*time.Millisecond, func() error {
		return checkHTTP(rawURL)
	})
}

func checkHTTP(rawURL string) error {
	resp, err := direct.Get(rawURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s: %s", rawURL, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// GetBody fetches url directly (no proxy) and returns the body of a 2xx answer.
func GetBody(rawURL string) ([]byte, error) {
	resp, err := direct.Get(rawURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return body, fmt.Errorf("GET %s: %s: %s", rawURL, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// GetJSON fetches url directly and decodes a 2xx JSON answer into v.
func GetJSON(rawURL string, v any) error {
	body, err := GetBody(rawURL)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decoding %q: %w", rawURL, truncate(body, 300), err)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// WaitForRoute sends GET url (with header, which may be nil) through c,
// usually a ProxyClient, until ok accepts the answer (nil ok: any answer
// from the echo app with status 200). It returns the accepted answer, or
// an error with the last answer or error at the deadline.
func WaitForRoute(c *http.Client, rawURL string, header http.Header, timeout time.Duration, ok func(*Answer) bool) (*Answer, error) {
	if ok == nil {
		ok = func(a *Answer) bool { return a.Status == http.StatusOK && a.Echo != nil }
	}
	var got *Answer
	err := Eventually(timeout, 50*time.Millisecond, func() error {
		a, err := Do(c, http.MethodGet, rawURL, header)
		if err != nil {
			return err
		}
		if !ok(a) {
			return fmt.Errorf("GET %s: not the expected answer yet: %v", rawURL, a)
		}
		got = a
		return nil
	})
	return got, err
}
