package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/kube"
	"github.com/pilotlight/pilotlight/xds"
)

// kubeFlags are the flags of Kubernetes mode (docs/kubernetes-contract.md).
type kubeFlags struct {
	kubeconfig    string
	leaderElect   bool
	leaseNS       string
	leaseName     string
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	identity      string
	systemNS      string
}

func (k *kubeFlags) addTo(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to read; without it and without --config-dir, the in-cluster config")
	f.BoolVar(&k.leaderElect, "leader-elect", true, "in Kubernetes mode, elect one replica to write status (false: this replica always writes it)")
	f.StringVar(&k.leaseNS, "leader-election-namespace", "", "namespace of the leader election Lease (default $POD_NAMESPACE, else pilotlight-system)")
	f.StringVar(&k.leaseName, "leader-election-id", "pilotlight-status", "name of the leader election Lease")
	f.DurationVar(&k.leaseDuration, "leader-lease-duration", 15*time.Second, "how long a lease lasts without renewal")
	f.DurationVar(&k.renewDeadline, "leader-renew-deadline", 10*time.Second, "how long the leader keeps trying to renew before it gives up leading")
	f.DurationVar(&k.retryPeriod, "leader-retry-period", 2*time.Second, "how often to try to acquire or renew the lease")
	f.StringVar(&k.identity, "identity", "", "this replica's holderIdentity in the Lease (default hostname_pid)")
	f.StringVar(&k.systemNS, "system-namespace", "", "pilotlight's own namespace, of its CA Secret (pilotlight-ca, or a user's cacerts) and by default its Lease (default $POD_NAMESPACE, else pilotlight-system)")
}

// inCluster reports whether pilotlight runs in a pod, where the in-cluster
// config is to be used.
func inCluster() bool { return os.Getenv("KUBERNETES_SERVICE_HOST") != "" }

// kubeMode serves the mesh from a cluster.
type kubeMode struct {
	client   kubernetes.Interface
	source   *kube.Source
	roots    *authn.RootPublisher // set by identity
	systemNS string
	elector  *kube.Elector // nil without --leader-elect: then this replica writes status
	identity string
	webhook  *webhookMode // nil without --webhook-addr
	crds     *crdCheck
}

func newKubeMode(k kubeFlags, wf webhookFlags, rootNamespace string, log *slog.Logger, reg prometheus.Registerer) (*kubeMode, error) {
	// client-go logs through klog: send it to the same JSON log.
	klog.SetSlogLogger(log)
	cfg, err := restConfig(k.kubeconfig)
	if err != nil {
		return nil, err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	src, err := kube.New(kube.Options{Kube: kc, Istio: ic, Dynamic: dyn, Log: log, RootNamespace: rootNamespace})
	if err != nil {
		return nil, err
	}
	m := &kubeMode{client: kc, source: src, identity: k.identityOrDefault(), systemNS: k.systemNamespace(),
		crds: &crdCheck{client: kc.Discovery(), log: log}}
	if wf.addr != "" {
		m.webhook = newWebhookMode(wf, kc, k.leaseNamespace(), log, reg)
	}
	if k.leaderElect {
		m.elector, err = kube.NewElector(kube.LeaderOptions{
			Client: kc, Namespace: k.leaseNamespace(), Name: k.leaseName, Identity: m.identity,
			LeaseDuration: k.leaseDuration, RenewDeadline: k.renewDeadline, RetryPeriod: k.retryPeriod, Log: log,
		})
		if err != nil {
			return nil, fmt.Errorf("leader election: %w", err)
		}
	}
	return m, nil
}

// restConfig reads a kubeconfig, or the pod's own service account when there
// is none.
func restConfig(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes config: %w", err)
	}
	cfg.UserAgent = "pilotlight"
	// client-go's default (5 per second) is for small tools; a control
	// plane's relists after an API server restart and status writes need more.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

func (k kubeFlags) leaseNamespace() string {
	if k.leaseNS != "" {
		return k.leaseNS
	}
	return k.systemNamespace()
}

// systemNamespace is pilotlight's own: --system-namespace, else the pod's.
func (k kubeFlags) systemNamespace() string {
	switch {
	case k.systemNS != "":
		return k.systemNS
	case os.Getenv("POD_NAMESPACE") != "":
		return os.Getenv("POD_NAMESPACE")
	}
	return "pilotlight-system"
}

// clusterIdentity is the cluster's CA (a Secret in pilotlight's namespace, shared
// by the replicas), TokenReview for the proxies' projected tokens, and the
// xDS certificate for the Service's names. It also sets up the publisher
// of the root ConfigMap, which run starts.
func (m *kubeMode) clusterIdentity(ctx context.Context, s securityFlags, xdsAddr string, log *slog.Logger) (*meshIdentity, error) {
	ca, where, err := authn.LoadOrCreateClusterCA(ctx, m.client, m.systemNS, s.trustDomain, nil)
	if err != nil {
		return nil, fmt.Errorf("mesh CA: %w", err)
	}
	names := []string{"pilotlight." + m.systemNS + ".svc", "pilotlight." + m.systemNS + ".svc.cluster.local"}
	serving, err := s.servingCertificate(ca, xdsAddr, names...)
	if err != nil {
		return nil, fmt.Errorf("xDS server certificate: %w", err)
	}
	m.roots = authn.NewRootPublisher(m.client, ca.RootsPEM(), log)
	log.Info("cluster mode identity", "ca", where, "trust-domain", s.trustDomain, "root-configmap", authn.RootConfigMapName)
	return &meshIdentity{ca: ca, authenticator: authn.NewTokenReviewer(m.client, authn.TokenAudience), serving: serving}, nil
}

func (k kubeFlags) identityOrDefault() string {
	if k.identity != "" {
		return k.identity
	}
	host, err := os.Hostname()
	if err != nil {
		host = "pilotlight"
	}
	return host + "_" + strconv.Itoa(os.Getpid())
}

// run reads the cluster and publishes snapshots, and takes part in the
// election, until ctx is done. It returns once the lease is given up.
func (m *kubeMode) run(ctx context.Context, publish func(*discovery.Snapshot)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if m.roots != nil {
		wg.Add(1)
		go func() { defer wg.Done(); m.roots.Run(ctx) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if m.elector == nil {
			m.lead(ctx)
			return
		}
		m.elector.Run(ctx, m.lead)
	}()
	go m.crds.run(ctx, 5*time.Second)
	webhookErr := make(chan error, 1)
	if m.webhook != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.webhook.run(ctx); err != nil {
				webhookErr <- err
				cancel()
			}
		}()
	}
	err := m.source.Run(ctx, publish)
	cancel() // no status without a source
	wg.Wait()
	select {
	case werr := <-webhookErr:
		return werr
	default:
	}
	return err
}

// lead is what the elected replica does: write status and, with the
// webhook on, keep its caBundle current.
func (m *kubeMode) lead(ctx context.Context) {
	if m.webhook != nil {
		done := make(chan struct{})
		go func() { defer close(done); m.webhook.lead(ctx) }()
		defer func() { <-done }()
	}
	m.source.WriteStatus(ctx)
}

// leading reports whether this replica writes status.
func (m *kubeMode) leading() bool { return m.elector == nil || m.elector.Leading() }

// handler adds Kubernetes mode's endpoints to the debug mux: a /readyz that
// also waits for the informers, and /debug/leader.
func (m *kubeMode) handler(debug http.Handler, server *xds.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", debug)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch why := m.crds.notReady(); {
		case why != "":
			http.Error(w, why, http.StatusServiceUnavailable)
		case !m.source.Synced():
			http.Error(w, "kubernetes informers not synced yet", http.StatusServiceUnavailable)
		case !server.Ready():
			http.Error(w, "no mesh snapshot yet", http.StatusServiceUnavailable)
		case m.webhook != nil && !m.webhook.serving.Load():
			http.Error(w, "sidecar injection webhook not serving yet", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ok\n"))
		}
	})
	mux.HandleFunc("GET /debug/leader", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, struct {
			Identity string `json:"identity"`
			Leader   bool   `json:"leader"`
		}{m.identity, m.leading()})
	})
	return mux
}

// errNoSource is returned when serve has neither a folder nor a cluster.
var errNoSource = errors.New("--config-dir or --kubeconfig is required (or run in a pod, for the in-cluster config)")

// checkSource checks that serve has exactly one place to read the mesh from.
func (f serveFlags) checkSource() error {
	switch {
	case f.configDir != "" && f.kube.kubeconfig != "":
		return errors.New("--config-dir and --kubeconfig are two sources of the mesh: use one")
	case f.configDir == "" && f.kube.kubeconfig == "" && !inCluster():
		return errNoSource
	}
	return nil
}
