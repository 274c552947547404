package harness

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The global rate-limit tests run the real envoyproxy/ratelimit service
// (built once by scripts/ensure-ratelimit.sh into <repo>/.tools) with a real
// Redis (Debian's redis-server, installed by the same script when missing),
// each test with a Redis of its own on a free loopback port.

var (
	rateLimitOnce sync.Once
	rateLimitPath string
	rateLimitErr  error
)

// RateLimitPath finds the ratelimit service: $RATELIMIT_BIN, else the
// binary scripts/ensure-ratelimit.sh builds (building it on first use,
// about a minute cold, and installing redis-server if missing).
func RateLimitPath() (string, error) {
	rateLimitOnce.Do(func() { rateLimitPath, rateLimitErr = findRateLimit() })
	return rateLimitPath, rateLimitErr
}

func findRateLimit() (string, error) { return findTool("RATELIMIT_BIN", "ensure-ratelimit.sh") }

// MustRateLimit returns RateLimitPath or fails the test.
func MustRateLimit(t testing.TB) string {
	t.Helper()
	p, err := RateLimitPath()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// StartRedis starts a redis-server of the test's own on a free 127.0.0.1
// port, without persistence, and returns its address once it answers PING.
func StartRedis(t testing.TB) string {
	t.Helper()
	MustRateLimit(t) // installs redis-server when missing
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("harness: redis-server not found after scripts/ensure-ratelimit.sh: %v", err)
	}
	addr := FreeAddr(t, "127.0.0.1")
	host, port, _ := net.SplitHostPort(addr)
	p := Start(t, Proc{Label: "redis", Path: bin, Args: []string{
		"--bind", host, "--port", port, "--save", "", "--appendonly", "no",
		"--dir", LogDir(t), "--protected-mode", "no", "--loglevel", "warning",
	}})
	err = Eventually(10*time.Second, 50*time.Millisecond, func() error {
		if err := p.CheckRunning(); err != nil {
			return Permanent(err)
		}
		return redisPing(addr)
	})
	if err != nil {
		t.Fatalf("harness: redis on %s: %v", addr, err)
	}
	return addr
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// RateLimitService is an envoyproxy/ratelimit instance playing a pod of
// the mesh without a sidecar: a Service (gRPC port 8081, named grpc) and a
// Pod whose IP the service's gRPC server binds. By default it loads its
// limits from pilotlight over xDS (its CONFIG_TYPE=GRPC_XDS_SOTW mode);
// with ConfigFiles set it reads them from files instead, as a tutorial
// deploys it with a ConfigMap.
type RateLimitService struct {
	Name, Namespace string
	Pod             *Pod
	// XDSAddr is pilotlight's --ratelimit-xds-addr (xDS mode).
	XDSAddr string
	// ConfigFiles: file name -> ratelimit config YAML (file mode).
	ConfigFiles map[string]string
	// RedisAddr is set by Start unless given.
	RedisAddr string

	Process *Process
	mesh    *Mesh
	http    string // HOST:PORT of its HTTP (health) server
	runtime string // RUNTIME_ROOT in file mode
	started int
}

// RateLimitGRPCPort is the service's gRPC port, as in its deployments.
const RateLimitGRPCPort = 8081

// AddRateLimitService adds the service's Service and Pod documents to the
// mesh's config (in namespace ns) and, for xDS mode, tells pilotlight to
// serve it (--ratelimit-xds-addr). Call before Mesh.Start; Start it after.
func AddRateLimitService(m *Mesh, ns string) *RateLimitService {
	m.T.Helper()
	a := AllocPod(m.T, RateLimitGRPCPort)
	r := &RateLimitService{Name: "ratelimit", Namespace: ns, mesh: m}
	r.Pod = &Pod{Name: "ratelimit-0", Namespace: ns, Labels: map[string]string{"app": "ratelimit"}, NoApp: true, NoSidecar: true,
		Ports: []ContainerPort{{Name: "grpc", Port: RateLimitGRPCPort}}, PodIP: a.PodIP, Local: a.Local}
	svc := &Service{Name: r.Name, Namespace: ns, Selector: map[string]string{"app": "ratelimit"},
		Ports: []ServicePort{{Name: "grpc", Port: RateLimitGRPCPort, TargetPort: RateLimitGRPCPort}}}
	m.AddNamespace(ns)
	m.WriteFile("ratelimit-"+sanitize(ns)+".yaml", JoinDocs(svc.YAML(), r.Pod.YAML()))
	r.XDSAddr = FreeAddr(m.T, "127.0.0.1")
	m.ServeArgs = append(m.ServeArgs, "--ratelimit-xds-addr", r.XDSAddr)
	return r
}

// Host is the service's FQDN.
func (r *RateLimitService) Host() string { return r.Name + "." + r.Namespace + ".svc.cluster.local" }

// GRPCAddr is where Envoy's ratelimit filters reach it: podIP:8081.
func (r *RateLimitService) GRPCAddr() string {
	return net.JoinHostPort(r.Pod.PodIP, strconv.Itoa(RateLimitGRPCPort))
}

// Start starts Redis (unless RedisAddr is set) and the service, and waits
// until it is healthy (it serves before its first config arrives:
// FORCE_START_WITHOUT_INITIAL_CONFIG).
func (r *RateLimitService) Start() {
	t := r.mesh.T
	t.Helper()
	bin := MustRateLimit(t)
	if r.RedisAddr == "" {
		r.RedisAddr = StartRedis(t)
	}
	if r.ConfigFiles != nil && r.runtime == "" {
		r.writeConfigFiles()
	}
	if r.http == "" {
		r.http = FreeAddr(t, r.Pod.Local)
	}
	httpHost, httpPort, _ := net.SplitHostPort(r.http)
	env := []string{
		// Every server on a loopback address of ours.
		"HOST=" + httpHost, "PORT=" + httpPort,
		"GRPC_HOST=" + r.Pod.PodIP, "GRPC_PORT=" + strconv.Itoa(RateLimitGRPCPort),
		"DEBUG_HOST=" + r.Pod.Local, "DEBUG_PORT=" + strconv.Itoa(FreePort(t, r.Pod.Local)),
		"USE_STATSD=false", "DISABLE_STATS=true", "LOG_LEVEL=debug",
		"REDIS_SOCKET_TYPE=tcp", "REDIS_URL=" + r.RedisAddr,
		"FORCE_START_WITHOUT_INITIAL_CONFIG=true",
	}
	if r.ConfigFiles != nil {
		env = append(env, "CONFIG_TYPE=FILE", "RUNTIME_ROOT="+r.runtime, "RUNTIME_SUBDIRECTORY=ratelimit",
			"RUNTIME_WATCH_ROOT=false", "RUNTIME_IGNOREDOTFILES=true")
	} else {
		env = append(env, "CONFIG_TYPE=GRPC_XDS_SOTW", "CONFIG_GRPC_XDS_SERVER_URL="+r.XDSAddr,
			"CONFIG_GRPC_XDS_NODE_ID="+r.Pod.Name,
			// Reconnect soon after pilotlight comes back (default 10 s).
			"XDS_CLIENT_BACKOFF_INITIAL_INTERVAL=1s", "XDS_CLIENT_BACKOFF_MAX_INTERVAL=2s")
	}
	r.started++
	r.Process = Start(t, Proc{Label: fmt.Sprintf("ratelimit-%d", r.started), Path: bin, Env: env})
	err := Eventually(30*time.Second, 100*time.Millisecond, func() error {
		if err := r.Process.CheckRunning(); err != nil {
			return Permanent(err)
		}
		if err := checkHTTP("http://" + r.http + "/healthcheck"); err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", r.GRPCAddr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("harness: ratelimit service: %v", err)
	}
}

// Restart stops the service and starts a fresh process (same addresses,
// same Redis): it knows no limits until it loads them again.
func (r *RateLimitService) Restart() {
	r.mesh.T.Helper()
	if err := r.Process.Stop(); err != nil {
		r.mesh.T.Logf("harness: stopping the ratelimit service: %v", err)
	}
	r.Start()
}

// writeConfigFiles puts the config files where the service reads them:
// RUNTIME_ROOT/ratelimit/config/.
func (r *RateLimitService) writeConfigFiles() {
	t := r.mesh.T
	r.runtime = filepath.Join(LogDir(t), "ratelimit-runtime")
	dir := filepath.Join(r.runtime, "ratelimit", "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	for name, content := range r.ConfigFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatalf("harness: %v", err)
		}
	}
}
