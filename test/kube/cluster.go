// Package kube runs a real, minimal Kubernetes control plane on loopback for
// pilotlight's Kubernetes-mode tests: etcd, kube-apiserver and
// kube-controller-manager (only the EndpointSlice, Endpoints and
// ServiceAccount controllers), with Istio's CRDs installed. There is no
// kubelet and no scheduler: the Kubelet helper plays both for the pods a
// test creates (it sets spec.nodeName and writes the pod status, with pod
// IPs from 10.244.0.0/16 that are data only: nothing ever connects to them).
//
//	c := kube.Start(t)                      // about 7 s
//	c.CreateNamespace("sock-shop")
//	c.CreateService(kube.HTTPService("sock-shop", "catalogue", 80, 8080))
//	k := c.Kubelet("node-1")
//	pod := k.RunPod(kube.PodOptions{Namespace: "sock-shop", Name: "catalogue-v1",
//		Labels: map[string]string{"app": "catalogue", "version": "v1"}, Ports: kube.HTTPPort(8080)})
//	c.ApplyYAML(virtualServiceYAML)         // Istio objects, written as v1alpha3
//	// c.Kubeconfig is a kubeconfig file for `pilotlight serve --kubeconfig`.
//
// Every server binds 127.0.0.1 on free ports; certificates, keys, the token
// file and etcd's data live under t.TempDir(); every process runs in its own
// process group and is stopped when the test ends (its log is printed if
// the test failed, and kept under $E2E_ARTIFACTS when set).
//
// The binaries come from $KUBE_BIN_DIR or scripts/ensure-kube.sh (see FindBins).
package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/pilotlight/pilotlight/test/harness"
)

// Waits of Start and StartAPIServer; generous, the machine may be loaded.
const (
	etcdStartTimeout      = 60 * time.Second
	apiserverStartTimeout = 90 * time.Second
	kcmStartTimeout       = 60 * time.Second
	crdTimeout            = 60 * time.Second
	// opTimeout bounds one API call of a helper.
	opTimeout = 30 * time.Second
)

// ServiceCIDR is --service-cluster-ip-range; PodCIDR is where the Kubelet
// helper takes pod IPs from. Both are data only.
const (
	ServiceCIDR = "10.96.0.0/16"
	PodCIDR     = "10.244.0.0/16"
)

// Cluster is a running control plane.
type Cluster struct {
	T    testing.TB
	Bins Bins
	// Dir holds certificates, keys, the token file, etcd's data and the
	// kubeconfig (under t.TempDir()).
	Dir string

	// Kubeconfig is a kubeconfig file for the admin user (system:masters)
	// with the cluster's CA: what `pilotlight serve --kubeconfig` gets.
	Kubeconfig string
	// Server is https://127.0.0.1:<port>, the same across RestartAPIServer.
	Server string
	// Token is the admin user's bearer token.
	Token string
	// CAData is the PEM of the CA that signed the API server's certificate.
	CAData []byte

	// Clients of the admin user.
	RestConfig *rest.Config
	Client     kubernetes.Interface
	Istio      istioclient.Interface
	Dynamic    dynamic.Interface

	EtcdURL           string
	Etcd              *harness.Process
	APIServer         *harness.Process
	ControllerManager *harness.Process

	// Startup records how long each phase of Start took, in order.
	Startup []Phase

	apiserverArgs []string
	pki           *pki

	mu       sync.Mutex
	nextIP   int
	kubelets map[string]*Kubelet
}

// Phase is one step of Start and how long it took.
type Phase struct {
	Name string
	Took time.Duration
}

// Start starts etcd, kube-apiserver and kube-controller-manager on free
// 127.0.0.1 ports, waits until the API server is ready and the
// controller-manager works (it created the default ServiceAccount), installs
// Istio's CRDs and waits until they are Established. It fails the test on
// any error. Everything is stopped when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return start(t, true)
}

// StartBare is Start without Istio's CRDs: for tests that install them
// the way a user does (kubectl apply -k deploy/).
func StartBare(t testing.TB) *Cluster {
	t.Helper()
	return start(t, false)
}

func start(t testing.TB, istioCRDs bool) *Cluster {
	t.Helper()
	start := time.Now()
	c := &Cluster{T: t, Bins: FindBins(t), Dir: t.TempDir(), kubelets: map[string]*Kubelet{}}
	phase := func(name string, since time.Time) time.Time {
		now := time.Now()
		c.Startup = append(c.Startup, Phase{name, now.Sub(since)})
		return now
	}
	mark := time.Now()

	var err error
	c.pki, err = newPKI(c.Dir)
	if err != nil {
		t.Fatalf("kube: generating certificates: %v", err)
	}
	c.Token, c.CAData = c.pki.Token, c.pki.CAData
	mark = phase("certs", mark)

	// Three ports held open together so they differ; etcd and the API
	// server bind them a moment later.
	addrs := harness.FreeAddrs(t, "127.0.0.1", 3)
	c.startEtcd(addrs[0], addrs[1])
	mark = phase("etcd", mark)

	c.Server = "https://" + addrs[2]
	c.apiserverArgs = c.apiserverFlags(addrs[2])
	c.makeClients()
	c.StartAPIServer()
	mark = phase("kube-apiserver", mark)

	c.startControllerManager()
	mark = phase("kube-controller-manager", mark)

	if istioCRDs {
		c.installIstioCRDs()
		mark = phase("istio-crds", mark)

		c.installProjectCRDs()
		phase("pilotlight-crds", mark)
	}

	t.Logf("kube: cluster %s up in %v (%s)", c.Server, time.Since(start).Round(time.Millisecond), c.startupSummary())
	return c
}

func (c *Cluster) startupSummary() string {
	var parts []string
	for _, p := range c.Startup {
		parts = append(parts, fmt.Sprintf("%s %v", p.Name, p.Took.Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

func (c *Cluster) startEtcd(clientAddr, peerAddr string) {
	t := c.T
	t.Helper()
	c.EtcdURL = "http://" + clientAddr
	peerURL := "http://" + peerAddr
	c.Etcd = harness.Start(t, harness.Proc{
		Label: "etcd",
		Path:  c.Bins.Etcd,
		Args: []string{
			"--name=default",
			"--data-dir=" + filepath.Join(c.Dir, "etcd"),
			"--listen-client-urls=" + c.EtcdURL,
			"--advertise-client-urls=" + c.EtcdURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=default=" + peerURL,
			"--initial-cluster-state=new",
			// A test's data is thrown away: no fsync makes writes fast
			// on a loaded machine and spares the disk.
			"--unsafe-no-fsync",
			"--log-level=warn",
		},
	})
	err := harness.Eventually(etcdStartTimeout, 50*time.Millisecond, func() error {
		if err := c.Etcd.CheckRunning(); err != nil {
			return harness.Permanent(err)
		}
		body, err := harness.GetBody(c.EtcdURL + "/health")
		if err != nil {
			return err
		}
		if !bytes.Contains(body, []byte(`"health":"true"`)) {
			return fmt.Errorf("etcd /health: %s", body)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kube: etcd did not become healthy: %v", err)
	}
}

func (c *Cluster) apiserverFlags(addr string) []string {
	_, port, _ := net.SplitHostPort(addr)
	return []string{
		"--etcd-servers=" + c.EtcdURL,
		// Loopback only. Without --advertise-address the API server
		// picks the machine's other interface, and the built-in
		// endpoints reconciler would reject loopback: turn it off.
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + port,
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
		"--tls-cert-file=" + c.pki.ServingCert,
		"--tls-private-key-file=" + c.pki.ServingKey,
		"--client-ca-file=" + c.pki.CACert,
		"--token-auth-file=" + c.pki.TokenFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki.SAKey,
		"--service-account-signing-key-file=" + c.pki.SAKey,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + ServiceCIDR,
		// Less background work on a small machine.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--shutdown-delay-duration=0s",
	}
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer: same
// port, same etcd data, same certificates) and waits until /readyz is ok.
func (c *Cluster) StartAPIServer() {
	t := c.T
	t.Helper()
	if c.APIServer != nil {
		if exited, _ := c.APIServer.Exited(); !exited {
			t.Fatalf("kube: StartAPIServer: kube-apiserver is already running")
		}
	}
	proc := harness.Start(t, harness.Proc{Label: "kube-apiserver", Path: c.Bins.APIServer, Args: c.apiserverArgs})
	c.APIServer = proc
	// Runs before the harness's own cleanup of the process (LIFO), which
	// would wait its whole grace period: see StopAPIServer.
	t.Cleanup(func() { stopQuickly(proc, apiserverStopGrace) })
	if err := c.WaitAPIServerReady(apiserverStartTimeout); err != nil {
		t.Fatalf("kube: kube-apiserver did not become ready: %v", err)
	}
}

// apiserverStopGrace is how long kube-apiserver gets to exit after SIGTERM.
// It stops listening at once, but then waits for its clients' connections
// to drain, and with watches open (controller-manager, pilotlight) it did
// not exit within a minute here; so it is killed after this grace.
const apiserverStopGrace = 1 * time.Second

// StopAPIServer stops kube-apiserver: SIGTERM to its process group (it
// stops listening at once), SIGKILL after apiserverStopGrace; it returns
// once the process has exited. etcd and the controller-manager keep
// running; clients see connection errors. KillAPIServer is the crash.
func (c *Cluster) StopAPIServer() {
	c.T.Helper()
	if c.APIServer == nil {
		c.T.Fatalf("kube: StopAPIServer: not started")
	}
	stopQuickly(c.APIServer, apiserverStopGrace)
}

// KillAPIServer kills kube-apiserver with SIGKILL (a crash) and waits until
// it has exited.
func (c *Cluster) KillAPIServer() {
	c.T.Helper()
	if c.APIServer == nil {
		c.T.Fatalf("kube: KillAPIServer: not started")
	}
	stopQuickly(c.APIServer, 0)
}

// stopQuickly sends SIGTERM (unless grace is 0), then SIGKILL after grace,
// and reaps the process (marking it stopped for the harness's cleanup).
func stopQuickly(p *harness.Process, grace time.Duration) {
	if exited, _ := p.Exited(); !exited {
		if grace > 0 {
			_ = p.Signal(syscall.SIGTERM)
			select {
			case <-p.Done():
			case <-time.After(grace):
			}
		}
		_ = p.Signal(syscall.SIGKILL)
	}
	_ = p.Stop()
}

// RestartAPIServer is StopAPIServer, then StartAPIServer.
func (c *Cluster) RestartAPIServer() {
	c.T.Helper()
	c.StopAPIServer()
	c.StartAPIServer()
}

// WaitAPIServerReady waits until the API server answers /readyz with ok.
func (c *Cluster) WaitAPIServerReady(timeout time.Duration) error {
	return harness.Eventually(timeout, 50*time.Millisecond, func() error {
		if err := c.APIServer.CheckRunning(); err != nil {
			return harness.Permanent(err)
		}
		return c.ready()
	})
}

func (c *Cluster) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %v: %s", err, truncate(body, 500))
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("/readyz: %s", truncate(body, 500))
	}
	return nil
}

func (c *Cluster) makeClients() {
	t := c.T
	t.Helper()
	cfg := &clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{
			"pilotlight-test": {Server: c.Server, CertificateAuthorityData: c.CAData},
		},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{
			AdminUser: {Token: c.Token},
		},
		Contexts: map[string]*clientcmdapi.Context{
			"pilotlight-test": {Cluster: "pilotlight-test", AuthInfo: AdminUser},
		},
		CurrentContext: "pilotlight-test",
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		t.Fatalf("kube: writing kubeconfig: %v", err)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatalf("kube: %v", err)
	}
	rc.QPS, rc.Burst = 200, 400 // the tests' own writes are not what is measured
	rc.UserAgent = "pilotlight-test-harness"
	c.RestConfig = rc
	if c.Client, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatalf("kube: %v", err)
	}
	if c.Istio, err = istioclient.NewForConfig(rc); err != nil {
		t.Fatalf("kube: %v", err)
	}
	if c.Dynamic, err = dynamic.NewForConfig(rc); err != nil {
		t.Fatalf("kube: %v", err)
	}
}

// KubeconfigFor writes a kubeconfig for another bearer token (for example a
// ServiceAccount's, to run pilotlight with only its RBAC) and returns its path.
func (c *Cluster) KubeconfigFor(name, token string) string {
	t := c.T
	t.Helper()
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"pilotlight-test": {Server: c.Server, CertificateAuthorityData: c.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{name: {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{"pilotlight-test": {Cluster: "pilotlight-test", AuthInfo: name}},
		CurrentContext: "pilotlight-test",
	}
	path := filepath.Join(c.Dir, "kubeconfig-"+name)
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		t.Fatalf("kube: writing kubeconfig: %v", err)
	}
	return path
}

func (c *Cluster) startControllerManager() {
	t := c.T
	t.Helper()
	c.ControllerManager = harness.Start(t, harness.Proc{
		Label: "kube-controller-manager",
		Path:  c.Bins.ControllerManager,
		Args: []string{
			"--kubeconfig=" + c.Kubeconfig,
			// Only what turns Services and Pods into EndpointSlices, and
			// the default ServiceAccount that Pod admission requires.
			"--controllers=endpointslice-controller,endpoints-controller,serviceaccount-controller",
			"--leader-elect=false",
			"--use-service-account-credentials=false",
			// No HTTPS server: nothing to bind, not even on loopback.
			"--secure-port=0",
			"--bind-address=127.0.0.1",
			"--cert-dir=" + filepath.Join(c.Dir, "kcm-certs"),
		},
	})
	// It works once it has created the default ServiceAccount of the
	// default namespace.
	err := harness.Eventually(kcmStartTimeout, 50*time.Millisecond, func() error {
		if err := c.ControllerManager.CheckRunning(); err != nil {
			return harness.Permanent(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("kube: kube-controller-manager did not create the default ServiceAccount: %v", err)
	}
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// IstioCRDFile returns the path of Istio's CRDs in the istio.io/api module
// that the main module requires (go list -m).
func IstioCRDFile() (string, error) {
	istioCRDOnce.Do(func() { istioCRDPath, istioCRDErr = findIstioCRDs() })
	return istioCRDPath, istioCRDErr
}

var (
	istioCRDOnce sync.Once
	istioCRDPath string
	istioCRDErr  error
)

func findIstioCRDs() (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := goListModuleDir(root, "istio.io/api")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("kube: Istio's CRDs: %v", err)
	}
	return p, nil
}

// installIstioCRDs creates every CRD of Istio's file and waits until all
// are Established.
func (c *Cluster) installIstioCRDs() {
	t := c.T
	t.Helper()
	path, err := IstioCRDFile()
	if err != nil {
		t.Fatalf("%v", err)
	}
	c.installCRDs(path)
}

// installCRDs creates every CRD of a YAML file and waits until all are
// Established.
func (c *Cluster) installCRDs(path string) {
	t := c.T
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("kube: %v", err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 64<<10)
	var names []string
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("kube: decoding %s: %v", path, err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, err := c.Dynamic.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{})
		cancel()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("kube: creating CRD %s: %v", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	if len(names) == 0 {
		t.Fatalf("kube: no CRDs in %s", path)
	}
	for _, name := range names {
		err := harness.Eventually(crdTimeout, 50*time.Millisecond, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			u, err := c.Dynamic.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cd := range conds {
				m, _ := cd.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return fmt.Errorf("CRD %s is not Established yet: %v", name, conds)
		})
		if err != nil {
			t.Fatalf("kube: %v", err)
		}
	}
}

// ctx returns a context for one API call of a helper.
func (c *Cluster) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// Port returns the API server's port.
func (c *Cluster) Port() int {
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(c.Server, "https://"))
	n, _ := strconv.Atoi(p)
	return n
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
