package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/translate"
)

func bootstrapCommand() *cobra.Command {
	var (
		p            translate.Proxy
		localAddress string
		xdsAddr      string
		adminPort    int
		stats        statsFlags
		gateway      bool
		delta        bool
		interception string
		opts         translate.BootstrapOptions
		identity     bootstrapIdentity
	)
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Print the Envoy bootstrap of a sidecar or gateway pod",
		Long: `Bootstrap prints the static config an Envoy starts with: its node id
(Istio-style, type~podIP~pod.namespace~namespace.svc.cluster.local), its admin
address, and the ADS server that sends it everything else.

The ADS stream is TLS, checked against the mesh root (--root-cert), and
carries a bearer token that proves which pod the proxy is: pilotlight sends
no config and no key to a stream without one. In folder mode bootstrap mints
that token itself, from the state folder that ` + "`pilotlight serve`" + ` created
(--state-dir), into a 0600 file the bootstrap points at; in a cluster, pass
the pod's projected ServiceAccount token (audience pilotlight) as --token-file.`,
		Example: "  pilotlight bootstrap --pod catalogue-v1 --namespace sock-shop --pod-ip 127.10.0.3 \\\n" +
			"      --local-address 127.20.0.3 > catalogue.yaml && envoy -c catalogue.yaml",
		RunE: func(cmd *cobra.Command, _ []string) error {
			p.Type = translate.Sidecar
			if gateway {
				p.Type = translate.Router
			}
			statsAddr, sourceAddress := stats.addr(localAddress), localModeSource(localAddress, p.IP)
			if localAddress == "" {
				localAddress = "127.0.0.1"
			}
			switch mode := translate.InterceptionMode(interception); mode {
			case translate.InterceptNone:
			case translate.InterceptRedirect:
				p.Interception = mode
			default:
				return fmt.Errorf("--interception-mode %q: want NONE or REDIRECT", interception)
			}
			if err := checkBootstrapFlags(p, localAddress, xdsAddr, adminPort); err != nil {
				return err
			}
			opts.Proxy, opts.XDSAddr, opts.Delta, opts.Version = p, xdsAddr, delta, buildVersion()
			opts.AdminAddr = net.JoinHostPort(localAddress, strconv.Itoa(adminPort))
			var err error
			if opts.TokenFile, opts.RootCertFile, err = identity.resolve(p.Namespace, p.PodName); err != nil {
				return err
			}
			opts.Workload, opts.StatsAddr = stats.workload, statsAddr
			// In local mode, upstream connections leave from the pod IP.
			opts.SourceAddress = sourceAddress
			b, err := translate.Bootstrap(opts)
			if err != nil {
				return err
			}
			js, err := protojson.Marshal(b)
			if err != nil {
				return err
			}
			out, err := yaml.JSONToYAML(js)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(out))
			return err
		},
	}
	cmd.Flags().StringVar(&p.PodName, "pod", "", "pod name (required)")
	cmd.Flags().StringVar(&p.Namespace, "namespace", "default", "pod namespace")
	cmd.Flags().StringVar(&p.IP, "pod-ip", "", "pod IP (required)")
	cmd.Flags().StringVar(&localAddress, "local-address", "", "the pod's localhost in local mode (admin binds here); default 127.0.0.1")
	cmd.Flags().StringVar(&xdsAddr, "xds-addr", "127.0.0.1:15010", "address of pilotlight's ADS server")
	cmd.Flags().IntVar(&adminPort, "admin-port", translate.AdminPort, "Envoy admin port")
	cmd.Flags().BoolVar(&gateway, "gateway", false, "a gateway (router) proxy instead of a sidecar")
	stats.addTo(cmd)
	cmd.Flags().BoolVar(&delta, "delta", false, "use incremental (Delta) xDS instead of state of the world")
	cmd.Flags().StringVar(&opts.DNSAddr, "dns-addr", "", "resolve DNS (STRICT_DNS clusters) with pilotlight's server for the mesh's names (serve --dns-addr), instead of the host's")
	cmd.Flags().StringVar(&interception, "interception-mode", string(translate.InterceptNone),
		"NONE (local mode: the app uses the sidecar as its HTTP proxy) or REDIRECT (traffic captured by `pilotlight init-capture`)")
	cmd.Flags().StringVar(&opts.ServiceAccount, "service-account", "", "the pod's service account, sent as node metadata")
	cmd.Flags().Uint32Var(&opts.HealthPort, "health-port", 0, "serve GET /healthz/ready (Envoy's readiness) on 0.0.0.0 at this port; 0: none")
	identity.addTo(cmd)
	_ = cmd.MarkFlagRequired("pod")
	_ = cmd.MarkFlagRequired("pod-ip")
	return cmd
}

// checkBootstrapFlags rejects what Envoy would only reject later, or what
// would make a node id the control plane cannot read: the pod's addresses
// must be IP addresses, the names Kubernetes names.
func checkBootstrapFlags(p translate.Proxy, localAddress, xdsAddr string, adminPort int) error {
	if _, err := discovery.ParseIP(p.IP); err != nil {
		return fmt.Errorf("--pod-ip: %w", err)
	}
	if _, err := discovery.ParseIP(localAddress); err != nil {
		return fmt.Errorf("--local-address: %w", err)
	}
	if errs := validation.IsDNS1123Subdomain(p.PodName); len(errs) > 0 {
		return fmt.Errorf("--pod %q: %s", p.PodName, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(p.Namespace); len(errs) > 0 {
		return fmt.Errorf("--namespace %q: %s", p.Namespace, strings.Join(errs, "; "))
	}
	if adminPort < 1 || adminPort > 65535 {
		return fmt.Errorf("--admin-port %d: not in 1..65535", adminPort)
	}
	if _, port, err := net.SplitHostPort(xdsAddr); err != nil {
		return fmt.Errorf("--xds-addr: %w", err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("--xds-addr %q: the port is not in 1..65535", xdsAddr)
	}
	return nil
}
