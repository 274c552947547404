package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/xds"
)

type serveFlags struct {
	configDir   string
	meshConfig  string
	maxFileSize quantityFlag
	writeSettle time.Duration
	xdsAddr     string
	httpAddr    string
	// rateLimitAddr serves the envoyproxy/ratelimit service its limits
	// (ratelimit.Server); "" serves none.
	rateLimitAddr string
	// dnsAddr answers the mesh's Service names over DNS (meshdns); "": no.
	dnsAddr  string
	debounce time.Duration
	logLevel string
	pprof    bool
	kube     kubeFlags
	security securityFlags
	webhook  webhookFlags
	// xdsLimits bound what one xDS client can make the server hold.
	xdsLimits xds.Limits

	rootNamespace string
	jwks          jwksFlags
	telemetry     telemetryFlags // serve_telemetry.go
}

func serveCommand() *cobra.Command {
	f := serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve Envoy proxies their config over ADS",
		Long: `Serve reads the mesh (Kubernetes Services, Pods, EndpointSlices and Istio
VirtualServices, DestinationRules, Gateways, AuthorizationPolicies,
RequestAuthentications) and serves every connected Envoy its own view over ADS
(state of the world and Delta).

The keys of RequestAuthentication jwksUri are fetched here, not by each Envoy,
inlined into the config and refreshed; --jwks-redirect points those fetches
elsewhere (a local folder or server) for offline clusters and tests.

With --config-dir it reads multi-document YAML from a folder and watches it.
Otherwise it watches a Kubernetes API server: the one of --kubeconfig, or, in
a pod, its own cluster. Then the elected leader writes status on invalid
Istio objects. With --webhook-addr it also injects sidecars into the pods of
namespaces labelled istio-injection=enabled (see deploy/webhook.yaml); the
elected leader keeps the webhook's caBundle current.`,
		Example: "  pilotlight serve --config-dir examples/sockshop\n  pilotlight serve --kubeconfig ~/.kube/config",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, f)
		},
	}
	cmd.Flags().StringVar(&f.configDir, "config-dir", "", "folder of Kubernetes-style YAML to read and watch, instead of a cluster")
	f.maxFileSize.q = *resource.NewQuantity(folder.DefaultMaxFileSize, resource.BinarySI)
	cmd.Flags().Var(&f.maxFileSize, "max-config-file-size", "with --config-dir: larger files are reported and not read")
	cmd.Flags().DurationVar(&f.writeSettle, "config-write-settle", folder.DefaultWriteSettle,
		"with --config-dir: how long a file written in place must go unwritten before it is read (files renamed into the folder are read at once)")
	cmd.Flags().StringVar(&f.meshConfig, "mesh-config", "", "Istio MeshConfig YAML (as in istiod's istio ConfigMap, key mesh); read: outboundTrafficPolicy")
	cmd.Flags().StringVar(&f.xdsAddr, "xds-addr", "127.0.0.1:15010", "address of the ADS gRPC server")
	cmd.Flags().StringVar(&f.httpAddr, "http-addr", "127.0.0.1:15014", "address of /metrics, /healthz, /readyz and /debug/")
	cmd.Flags().StringVar(&f.dnsAddr, "dns-addr", "", "UDP address where the mesh's Service names resolve to their endpoints, for proxies bootstrapped with --dns-addr (folder mode has no kube-dns); empty: none")
	cmd.Flags().StringVar(&f.rateLimitAddr, "ratelimit-xds-addr", "", "address of the xDS server that gives the envoyproxy/ratelimit service the limits of RateLimitPolicies (CONFIG_TYPE=GRPC_XDS_SOTW); empty: none")
	cmd.Flags().DurationVar(&f.debounce, "debounce", 100*time.Millisecond, "quiet time after a change before pushing")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&f.rootNamespace, "root-namespace", discovery.DefaultRootNamespace, "Istio's meshConfig.rootNamespace: security policies there without a selector apply to the whole mesh")
	cmd.Flags().BoolVar(&f.pprof, "pprof", false, "serve Go's profiles under /debug/pprof/ on --http-addr (for maintainers measuring the server)")
	addLimitFlags(cmd, &f.xdsLimits)
	f.kube.addTo(cmd)
	f.security.addTo(cmd)
	f.webhook.addTo(cmd)
	f.jwks.addTo(cmd)
	f.telemetry.addTo(cmd)
	return cmd
}

// readMeshConfig reads --mesh-config; without one, Istio's defaults. Fields
// pilotlight does not act on are logged as warnings.
func readMeshConfig(path string, log *slog.Logger) (*meshconfig.MeshConfig, error) {
	if path == "" {
		return translate.DefaultMeshConfig(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--mesh-config: %w", err)
	}
	mc, problems, err := discovery.ParseMeshConfig(path, data)
	if err != nil {
		return nil, fmt.Errorf("--mesh-config: %w", err)
	}
	for _, p := range problems {
		log.Warn("mesh config field ignored", "file", path, "field", p.Field, "reason", p.Reason)
	}
	log.Info("mesh config", "file", path, "outboundTrafficPolicy", mc.GetOutboundTrafficPolicy().GetMode().String())
	return mc, nil
}

// addLimitFlags: what one xDS client can make the server hold. Each limit
// a client hits is counted in pilotlight_xds_limit_hits_total{limit}.
func addLimitFlags(cmd *cobra.Command, l *xds.Limits) {
	d := xds.DefaultLimits()
	fs := cmd.Flags()
	fs.IntVar(&l.MaxStreams, "xds-max-streams", d.MaxStreams, "ADS streams served at once; more are refused (RESOURCE_EXHAUSTED), so a proxy retries, perhaps on another replica")
	fs.IntVar(&l.MaxStreamsPerConnection, "xds-max-streams-per-connection", d.MaxStreamsPerConnection, "ADS streams on one gRPC connection (Envoy opens one)")
	fs.IntVar(&l.MaxNodeIDBytes, "xds-max-node-id-bytes", d.MaxNodeIDBytes, "longest node id accepted")
	fs.IntVar(&l.MaxNodeMetadataBytes, "xds-max-node-metadata-bytes", d.MaxNodeMetadataBytes, "largest node metadata accepted")
	fs.IntVar(&l.MaxRequestBytes, "xds-max-request-bytes", d.MaxRequestBytes, "largest xDS request message accepted")
	fs.DurationVar(&l.SendTimeout, "xds-send-timeout", d.SendTimeout, "a proxy that does not read a response for this long loses its stream")
	fs.DurationVar(&l.RemovalGrace, "xds-removal-grace", d.RemovalGrace,
		"make before break: how long config a proxy no longer needs is kept while it has not confirmed the change")
}

func serve(ctx context.Context, f serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := f.checkSource(); err != nil {
		return err
	}
	if err := f.security.check(); err != nil {
		return err
	}
	if f.webhook.addr != "" && f.configDir != "" {
		return errors.New("--webhook-addr: sidecar injection needs Kubernetes mode, not --config-dir")
	}
	jwks, err := f.jwks.resolver(log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	// The mesh's source is checked before anything listens: a missing
	// folder is an error naming it, and serve exits.
	var fm *folderMode
	if f.configDir != "" {
		var err error
		if fm, err = newFolderMode(f, log, reg); err != nil {
			return err
		}
	}

	mc, err := readMeshConfig(f.meshConfig, log)
	if err != nil {
		return err
	}
	meshOpts, err := f.telemetry.meshOptions()
	if err != nil {
		return err
	}
	stopTracing, err := startControlPlaneTracing(ctx, f.telemetry.otlpEndpoint, hostname())
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(flush)
	}()
	// The mesh's identity: a CA and who checks the proxies' tokens, from a
	// state folder or from the cluster (security.go).
	var k *kubeMode
	var id *meshIdentity
	if f.configDir != "" {
		id, err = f.security.folderIdentity(log, f.xdsAddr)
	} else {
		if k, err = newKubeMode(f.kube, f.webhook, f.rootNamespace, log, reg); err != nil {
			return err
		}
		id, err = k.clusterIdentity(ctx, f.security, f.xdsAddr, log)
	}
	if err != nil {
		return err
	}
	server := xds.NewServer(ctx, xds.Options{
		Log: log, Registry: reg, Debounce: f.debounce, MeshConfig: mc, Limits: f.xdsLimits,
		Authenticator: id.authenticator, CA: id.ca, WorkloadCertTTL: f.security.certTTL,
		TrustDomain: f.security.trustDomain, Telemetry: meshOpts,
	})
	xdsListener, err := net.Listen("tcp", f.xdsAddr)
	if err != nil {
		return fmt.Errorf("--xds-addr: %w", err)
	}
	httpListener, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	grpcServer := grpc.NewServer(append(server.ServerOptions(),
		// TLS only: the stream carries tokens and private keys.
		grpc.Creds(xds.ServerCredentials(id.serving.ServerTLS())),
		// Envoy keeps one long-lived stream; let it ping, and notice dead peers.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	)...)
	server.Register(grpcServer)
	limits, err := newRateLimitXDS(ctx, f.rateLimitAddr, log)
	if err != nil {
		return err
	}
	names, err := newMeshDNS(f.dnsAddr, log)
	if err != nil {
		return err
	}
	// Every server gets every snapshot: the proxies' ratelimit filters and
	// the rate-limit service's limits come from the same one.
	publish := func(snap *discovery.Snapshot) {
		server.Update(snap)
		limits.update(snap)
		names.update(snap)
	}
	sink := f.telemetry.register(grpcServer, reg, server, log)
	mux := debugMux(server, limits, reg)
	if f.pprof {
		addProfiles(mux)
	}
	mux.HandleFunc("GET /debug/explain", handleExplain(server, f.configDir, translate.WithMeshConfig(mc), translate.WithTelemetry(meshOpts))) // explain.go
	web := webView(server, sink)                                                                                                              // serve_telemetry.go
	mux.Handle("/ui/", web)
	mux.Handle("/ui", web)
	var handler http.Handler = mux
	// discovery → JWKS resolver (fetches and inlines jwksUri keys) → xDS
	// (and the rate-limit service's xDS, and the mesh's DNS).
	var source func(context.Context) error
	if fm != nil {
		source = func(ctx context.Context) error { return fm.run(ctx, jwks.Update) }
		handler = fm.handler(handler, server)
	}
	var debugAuth debugAuthorizer // folder mode: loopback only
	if k != nil {
		source = func(ctx context.Context) error { return k.run(ctx, jwks.Update) }
		handler = k.handler(handler, server)
		debugAuth = kubeDebugAuthorizer{client: k.client}
	}
	handler = guardDebug(handler, debugAuth, log)
	httpServer := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 5)
	sourceDone := make(chan struct{})
	go server.Run(ctx)
	go jwks.Run(ctx, publish)
	go func() { defer close(sourceDone); errs <- source(ctx) }()
	go func() { errs <- grpcServer.Serve(xdsListener) }()
	go func() { errs <- httpServer.Serve(httpListener) }()
	limits.serve(errs)
	names.serve(ctx, errs)
	log.Info("pilotlight serving", "version", buildVersion(), "config-dir", f.configDir, "xds", xdsListener.Addr().String(), "http", httpListener.Addr().String(), "ratelimit-xds", limits.addr(), "dns", f.dnsAddr)

	select {
	case <-ctx.Done():
		err = nil
	case err = <-errs:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpServer.Shutdown(shutdown)
	grpcServer.Stop()
	limits.stop()
	// Let the source end: in Kubernetes mode the leader gives its lease up,
	// so that another replica writes status without waiting for it to expire.
	cancel()
	select {
	case <-sourceDone:
	case <-shutdown.Done():
	}
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("pilotlight stopped")
	return err
}
