package harness

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAllocPodUniqueLoopbackPairs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 600; i++ { // crosses third-octet boundaries (250 per /24)
		a := AllocPod(t, 8080)
		for _, ip := range []string{a.PodIP, a.Local} {
			p := net.ParseIP(ip)
			if p == nil || !p.IsLoopback() || p.To4() == nil {
				t.Fatalf("not an IPv4 loopback address: %q", ip)
			}
			if strings.HasPrefix(ip, "127.0.") || strings.HasPrefix(ip, "127.10.") || strings.HasPrefix(ip, "127.20.") {
				t.Fatalf("%s is in a range kept for 127.0.0.1 or the demo", ip)
			}
			if seen[ip] {
				t.Fatalf("address %s handed out twice", ip)
			}
			seen[ip] = true
		}
	}
}

func TestAllocPodSkipsBusyAddresses(t *testing.T) {
	// Take the sidecar admin port of the next local address: the allocator
	// must not hand that pair out.
	allocMu.Lock()
	next := allocPair(allocNext)
	allocMu.Unlock()
	busy := net.JoinHostPort(next.Local, "15000")
	ln, err := net.Listen("tcp", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a := AllocPod(t)
	if net.JoinHostPort(a.Local, "15000") == busy {
		t.Fatalf("allocator returned %v although %s is taken", a, busy)
	}
}

func TestFreeAddrsDistinct(t *testing.T) {
	addrs := FreeAddrs(t, "127.0.0.1", 3)
	if addrs[0] == addrs[1] || addrs[1] == addrs[2] || addrs[0] == addrs[2] {
		t.Fatalf("ports repeat: %v", addrs)
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s not free: %v", a, err)
		}
		ln.Close()
	}
}

func TestParseStatsAndNackCounters(t *testing.T) {
	body := []byte(`cluster.outbound|80||catalogue.sock-shop.svc.cluster.local.update_rejected: 2
cluster.outbound|80||catalogue.sock-shop.svc.cluster.local.upstream_rq_total: 17
cluster_manager.cds.update_rejected: 1
cluster_manager.cds.update_success: 4
http.outbound_0.0.0.0_15001.rds.outbound|15001.update_rejected: 0
listener_manager.lds.update_rejected: 3
server.state: 0
cluster.inbound|8080||.upstream_cx_length_ms: P0(nan,1.0) P25(nan,1.025) P50(nan,1.05)
cluster_manager.cds.update_rejected_extra: 9
`)
	stats := ParseStats(body)
	if got := stats["cluster.outbound|80||catalogue.sock-shop.svc.cluster.local.upstream_rq_total"]; got != 17 {
		t.Errorf("upstream_rq_total = %d, want 17", got)
	}
	if _, ok := stats["cluster.inbound|8080||.upstream_cx_length_ms"]; ok {
		t.Errorf("histogram line parsed as a number")
	}
	nacks := nackCounters(stats)
	var sum uint64
	for _, v := range nacks {
		sum += v
	}
	if sum != 6 || len(nacks) != 4 {
		t.Errorf("nack counters = %v (sum %d), want 4 counters summing to 6", nacks, sum)
	}
	if got := FormatNonZero(nacks); got != "cluster.outbound|80||catalogue.sock-shop.svc.cluster.local.update_rejected=2, cluster_manager.cds.update_rejected=1, listener_manager.lds.update_rejected=3" {
		t.Errorf("FormatNonZero = %q", got)
	}
}

func TestEventually(t *testing.T) {
	n := 0
	err := Eventually(time.Second, time.Millisecond, func() error {
		n++
		if n < 3 {
			return os.ErrNotExist
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("err=%v n=%d", err, n)
	}
	start := time.Now()
	err = Eventually(time.Minute, time.Millisecond, func() error { return Permanent(os.ErrPermission) })
	if err != os.ErrPermission || time.Since(start) > 10*time.Second {
		t.Fatalf("Permanent did not stop at once: %v", err)
	}
	err = Eventually(20*time.Millisecond, time.Millisecond, func() error { return os.ErrClosed })
	if err == nil || !strings.Contains(err.Error(), "file already closed") {
		t.Fatalf("want the last error at the deadline, got %v", err)
	}
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestStartProcessKillsWholeGroupAtCleanup(t *testing.T) {
	var leader, child int
	var logPath string
	defer func(g time.Duration) { stopGrace = g }(stopGrace)
	stopGrace = 300 * time.Millisecond
	t.Run("inner", func(t *testing.T) {
		// A shell that starts a grandchild and ignores SIGTERM: the
		// harness must still take both down (SIGKILL after the grace).
		// (printf's format keeps "child " out of the log's command line.)
		p := StartProcess(t, "/bin/sh", "-c", `trap '' TERM; sleep 300 & printf 'ch%sld %s\n' i $!; wait`)
		if err := p.WaitLog("child ", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		leader = p.Pid()
		logs := p.Logs()
		i := strings.Index(logs, "child ")
		for _, c := range strings.TrimSpace(logs[i+len("child "):]) {
			if c < '0' || c > '9' {
				break
			}
			child = child*10 + int(c-'0')
		}
		logPath = p.LogPath
		if !pidAlive(leader) || !pidAlive(child) {
			t.Fatalf("processes not running: leader %d child %d", leader, child)
		}
		if !strings.HasPrefix(filepath.Base(logPath), "sh") {
			t.Errorf("log file %s not named after the program", logPath)
		}
	})
	if child == 0 {
		t.Fatal("no child pid read")
	}
	err := Eventually(10*time.Second, 10*time.Millisecond, func() error {
		if pidAlive(leader) || pidAlive(child) {
			return os.ErrExist
		}
		return nil
	})
	if err != nil {
		t.Fatalf("leader %d or child %d still alive after cleanup", leader, child)
	}
}

func TestProcessExitIsReportedAndStopIsIdempotent(t *testing.T) {
	p := Start(t, Proc{Label: "short", Path: "/bin/sh", Args: []string{"-c", "echo bye; exit 3"}, MayExit: true})
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("short-lived process did not exit")
	}
	if err := p.CheckRunning(); err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "bye") {
		t.Fatalf("CheckRunning = %v", err)
	}
	if err := p.Stop(); err == nil {
		t.Fatal("Stop after exit 3 returned nil")
	}
	_ = p.Stop()
}

func TestEchoServer(t *testing.T) {
	echo := BuildEcho(t)
	a := AllocPod(t, 8080)
	addr := net.JoinHostPort(a.Local, "8080")
	p := Start(t, Proc{Label: "echo", Path: echo, Args: []string{"--listen", addr, "--pod", "front-end-v1", "--version", "v1"},
		Env: []string{"SERVICE=front-end", "VERSION=ignored-flag-wins"}})
	if err := WaitHTTP("http://"+addr+"/", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Logs(), "listening on "+addr) {
		t.Errorf("no listening line in %q", p.Logs())
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	ans, err := Do(c, "GET", "http://"+addr+"/hello/world?x=1", http.Header{"User-Agent": {"Firefox/1"}, "Host": {"front-end.sock-shop"}})
	if err != nil {
		t.Fatal(err)
	}
	want := EchoResponse{Pod: "front-end-v1", Version: "v1", Service: "front-end", Host: "front-end.sock-shop", Method: "GET", Path: "/hello/world"}
	if ans.Status != 200 || ans.Echo == nil || ans.ServedBy != "front-end-v1" {
		t.Fatalf("answer %v", ans)
	}
	got := *ans.Echo
	if got.Headers["user-agent"] != "Firefox/1" {
		t.Errorf("headers = %v", got.Headers)
	}
	got.Headers = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("echo = %+v, want %+v", got, want)
	}

	ans, err = Get(c, "http://"+addr+"/status/503", "")
	if err != nil || ans.Status != 503 || ans.Echo == nil || ans.ServedBy != "front-end-v1" {
		t.Errorf("/status/503: %v %v", ans, err)
	}
	if ans, err = Get(c, "http://"+addr+"/status/99", ""); err != nil || ans.Status != 400 {
		t.Errorf("/status/99: %v %v", ans, err)
	}
	start := time.Now()
	if ans, err = Get(c, "http://"+addr+"/delay/150", ""); err != nil || ans.Status != 200 {
		t.Errorf("/delay/150: %v %v", ans, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("/delay/150 answered after %v", d)
	}

	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("echo did not exit on SIGTERM")
	}
	if exited, err := p.Exited(); !exited || err != nil {
		t.Fatalf("echo exit after SIGTERM: %v", err)
	}
	_ = p.Stop() // we stopped it: no "exited early" error at cleanup
}
