package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pilotlight/pilotlight/inject"
)

// webhookFlags configure sidecar injection (Kubernetes mode only).
type webhookFlags struct {
	addr         string
	service      string
	configName   string
	hosts        []string
	proxyImage   string
	captureImage string
	xdsAddr      string
}

func (w *webhookFlags) addTo(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&w.addr, "webhook-addr", "", "serve the sidecar injection webhook (HTTPS, path "+inject.Path+") here, e.g. 0.0.0.0:15017; empty: no injection")
	f.StringVar(&w.service, "webhook-service", "pilotlight", "the Service in front of the webhook: its names go into the serving certificate")
	f.StringSliceVar(&w.hosts, "webhook-cert-hosts", nil, "more DNS names or IPs for the webhook's serving certificate (e.g. 127.0.0.1 for a clientConfig.url)")
	f.StringVar(&w.configName, "webhook-config", inject.WebhookConfigName, "the MutatingWebhookConfiguration whose caBundle the elected replica keeps current")
	f.StringVar(&w.proxyImage, "proxy-image", inject.DefaultProxyImage, "the injected sidecar's Envoy image")
	f.StringVar(&w.captureImage, "capture-image", "", "image of the injected init container (pilotlight init-capture); default: this pod's own image")
	f.StringVar(&w.xdsAddr, "injection-xds-addr", "", "the ADS address injected sidecars dial (default WEBHOOK-SERVICE.NAMESPACE.svc:15010)")
}

// webhookMode serves injection and, while leading, keeps the caBundle.
type webhookMode struct {
	flags     webhookFlags
	kc        kubernetes.Interface
	namespace string
	log       *slog.Logger
	reg       prometheus.Registerer

	ca      atomic.Pointer[inject.CA] // set once the CA is loaded
	caReady chan struct{}
	serving atomic.Bool
}

func newWebhookMode(f webhookFlags, kc kubernetes.Interface, namespace string, log *slog.Logger, reg prometheus.Registerer) *webhookMode {
	if f.xdsAddr == "" {
		f.xdsAddr = fmt.Sprintf("%s.%s.svc:15010", f.service, namespace)
	}
	return &webhookMode{flags: f, kc: kc, namespace: namespace, log: log, reg: reg, caReady: make(chan struct{})}
}

// run loads the CA (and finds the capture image), then serves HTTPS until
// ctx ends. Reaching the API server is retried: a replica may start first.
func (w *webhookMode) run(ctx context.Context) error {
	var ca *inject.CA
	if err := retryAPI(ctx, w.log, "webhook CA", func() (err error) {
		ca, err = inject.LoadOrCreateCA(ctx, w.kc, w.namespace)
		return err
	}); err != nil {
		return nil // ctx ended
	}
	w.ca.Store(ca)
	close(w.caReady)
	if w.flags.captureImage == "" {
		if err := retryAPI(ctx, w.log, "own image", func() (err error) {
			w.flags.captureImage, err = ownImage(ctx, w.kc, w.namespace)
			return err
		}); err != nil {
			return nil
		}
	}
	cfg := &inject.Config{ProxyImage: w.flags.proxyImage, CaptureImage: w.flags.captureImage, XDSAddr: w.flags.xdsAddr, SystemNamespace: w.namespace}
	if _, err := cfg.BootstrapYAML(); err != nil {
		return fmt.Errorf("--injection-xds-addr: %w", err)
	}
	certs, err := inject.NewServingCerts(ca, append(inject.ServiceHosts(w.flags.service, w.namespace), w.flags.hosts...))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", w.flags.addr)
	if err != nil {
		return fmt.Errorf("--webhook-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(inject.Path, inject.NewWebhook(cfg, w.log, w.reg))
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelDebug),
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	w.serving.Store(true)
	w.log.Info("sidecar injection webhook serving", "addr", ln.Addr().String(), "path", inject.Path,
		"proxy-image", cfg.ProxyImage, "capture-image", cfg.CaptureImage, "xds", cfg.XDSAddr)
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// lead keeps the caBundle current while this replica leads.
func (w *webhookMode) lead(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-w.caReady:
	}
	inject.KeepCABundle(ctx, w.kc, w.flags.configName, w.ca.Load().CertPEM, w.log)
}

// retryAPI calls f until it succeeds or ctx ends, logging each failure.
func retryAPI(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		log.Warn("retrying", "what", what, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// ownImage is the image of this pod's pilotlight container, for the init
// container: one image holds both (POD_NAME from the downward API).
func ownImage(ctx context.Context, kc kubernetes.Interface, namespace string) (string, error) {
	name := os.Getenv("POD_NAME")
	if name == "" {
		return "", errors.New("--capture-image is required outside a pod (no POD_NAME)")
	}
	pod, err := kc.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "pilotlight" {
			return c.Image, nil
		}
	}
	return pod.Spec.Containers[0].Image, nil
}
