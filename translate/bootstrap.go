package translate

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	grpccredential "github.com/envoyproxy/go-control-plane/envoy/config/grpc_credential/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// XDSStatPrefix names the stats of Envoy's gRPC client to the control
// plane (cluster.xds-grpc.* in Istio; here grpc.xds-grpc.*).
const XDSStatPrefix = "xds-grpc"

// fileBasedMetadata is Envoy's gRPC call credentials plugin that reads a
// header value from a file on every new stream.
const fileBasedMetadata = "envoy.grpc_credentials.file_based_metadata"

// BootstrapOptions say how one Envoy finds the control plane and proves
// who it is.
type BootstrapOptions struct {
	// Proxy is who the Envoy is. Proxy.Interception goes into the node
	// metadata (INTERCEPTION_MODE), which decides its listeners.
	Proxy Proxy
	// XDSAddr is host:port of pilotlight's ADS server. A host name (the
	// in-cluster Service) is resolved by the gRPC client's DNS.
	XDSAddr   string
	AdminAddr string // host:port of Envoy's admin interface
	Delta     bool   // incremental (Delta) xDS instead of state of the world
	// Version is the version of pilotlight that wrote the bootstrap, sent
	// in node.metadata.PILOTLIGHT_VERSION (as Istio sends ISTIO_VERSION),
	// so that /config_dump and the control plane can tell.
	Version string
	// ServiceAccount, when set, goes into the node metadata (SERVICE_ACCOUNT).
	ServiceAccount string
	// HealthPort, when not 0, serves GET /healthz/ready on 0.0.0.0 (Istio's
	// 15021): Envoy's admin /ready, 200 once its first config is applied.
	// Only that path: the admin interface itself stays on AdminAddr.
	HealthPort uint32
	// TokenFile holds the proxy's bearer token: a folder token minted by
	// `pilotlight bootstrap`, or a projected ServiceAccount token.
	TokenFile string
	// RootCertFile holds the roots that the xDS server's certificate
	// chains up to (the mesh CA's root-cert.pem).
	RootCertFile string
	// DNSAddr is host:port of the control plane's DNS server for the
	// mesh's names (folder mode), "" for the host's resolvers.
	DNSAddr string
	// Workload names the proxy's workload in its stats (source_workload;
	// the pod name when empty). StatsAddr is where the Prometheus stats
	// listener binds (stats.go); empty for none.
	Workload  string
	StatsAddr string
	// SourceAddress, when set, is where upstream connections leave from:
	// the pod IP in local mode (bootstrap_source.go).
	SourceAddress string
}

// Bootstrap is the static config an Envoy starts with: who it is (node),
// where its admin listens, and that everything else comes over ADS.
//
// The ADS client is Envoy's google_grpc (gRPC C++), not envoy_grpc: only
// it has call credentials. Its TLS channel (ssl_credentials.root_certs)
// checks the server against the mesh root, and file_based_metadata sends
// "authorization: Bearer <token file>", re-reading the file for each new
// stream, so a token the kubelet (or a new `pilotlight bootstrap`) rewrote
// is used on the next reconnect without restarting Envoy.
func Bootstrap(o BootstrapOptions) (*bootstrap.Bootstrap, error) {
	if _, _, err := splitHostPort(o.XDSAddr); err != nil {
		return nil, fmt.Errorf("xds address: %w", err)
	}
	adminHost, adminPort, err := splitHostPort(o.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin address: %w", err)
	}
	if o.TokenFile == "" || o.RootCertFile == "" {
		return nil, errors.New("a proxy needs a token file and the mesh root certificate to reach the control plane")
	}
	apiType := core.ApiConfigSource_GRPC
	if o.Delta {
		apiType = core.ApiConfigSource_DELTA_GRPC
	}
	b := &bootstrap.Bootstrap{
		Node:  &core.Node{Id: o.Proxy.NodeID(), Cluster: o.Proxy.PodName + "." + o.Proxy.Namespace, Metadata: nodeMetadata(o)},
		Admin: &bootstrap.Admin{Address: socketAddress(adminHost, adminPort)},
		DynamicResources: &bootstrap.Bootstrap_DynamicResources{
			AdsConfig: &core.ApiConfigSource{
				ApiType:             apiType,
				TransportApiVersion: core.ApiVersion_V3,
				GrpcServices:        []*core.GrpcService{xdsGrpcService(o)},
			},
			CdsConfig: adsConfigSource(),
			LdsConfig: adsConfigSource(),
		},
	}
	if o.HealthPort != 0 {
		b.StaticResources = &bootstrap.Bootstrap_StaticResources{
			Clusters:  []*cluster.Cluster{adminCluster(adminHost, adminPort)},
			Listeners: []*listener.Listener{healthListener(o.HealthPort)},
		}
	}
	if o.DNSAddr != "" {
		dnsHost, dnsPort, err := splitHostPort(o.DNSAddr)
		if err != nil {
			return nil, fmt.Errorf("dns address: %w", err)
		}
		b.TypedDnsResolverConfig = dnsResolver(dnsHost, dnsPort)
	}
	addSourceAddress(b, o)
	if err := addTelemetryCluster(b, o); err != nil { // bootstrap_telemetry.go
		return nil, err
	}
	if err := addStats(b, o, adminHost, adminPort); err != nil {
		return nil, fmt.Errorf("stats address: %w", err)
	}
	return b, nil
}

// nodeMetadata carries what the control plane cannot read from the node id:
// how the proxy's traffic is captured, its service account, and the
// version of pilotlight that wrote the bootstrap.
func nodeMetadata(o BootstrapOptions) *structpb.Struct {
	fields := map[string]*structpb.Value{}
	if o.Proxy.Interception != "" {
		fields[MetadataInterceptionMode] = structpb.NewStringValue(string(o.Proxy.Interception))
	}
	if o.ServiceAccount != "" {
		fields[MetadataServiceAccount] = structpb.NewStringValue(o.ServiceAccount)
	}
	if o.Version != "" {
		fields[MetadataVersion] = structpb.NewStringValue(o.Version)
	}
	if len(fields) == 0 {
		return nil
	}
	return &structpb.Struct{Fields: fields}
}

// xdsGrpcService: google_grpc.target_uri is the server address;
// channel_credentials.ssl_credentials.root_certs the mesh root; and
// call_credentials.from_plugin the token file, sent as "Bearer <token>".
func xdsGrpcService(o BootstrapOptions) *core.GrpcService {
	token := &grpccredential.FileBasedMetadataConfig{
		SecretData:   fileSource(o.TokenFile),
		HeaderKey:    "authorization",
		HeaderPrefix: "Bearer ",
	}
	return &core.GrpcService{TargetSpecifier: &core.GrpcService_GoogleGrpc_{GoogleGrpc: &core.GrpcService_GoogleGrpc{
		TargetUri:  o.XDSAddr,
		StatPrefix: XDSStatPrefix,
		ChannelCredentials: &core.GrpcService_GoogleGrpc_ChannelCredentials{
			CredentialSpecifier: &core.GrpcService_GoogleGrpc_ChannelCredentials_SslCredentials{
				SslCredentials: &core.GrpcService_GoogleGrpc_SslCredentials{RootCerts: fileSource(o.RootCertFile)},
			},
		},
		CallCredentials: []*core.GrpcService_GoogleGrpc_CallCredentials{{
			CredentialSpecifier: &core.GrpcService_GoogleGrpc_CallCredentials_FromPlugin{
				FromPlugin: &core.GrpcService_GoogleGrpc_CallCredentials_MetadataCredentialsFromPlugin{
					Name:       fileBasedMetadata,
					ConfigType: &core.GrpcService_GoogleGrpc_CallCredentials_MetadataCredentialsFromPlugin_TypedConfig{TypedConfig: mustAny(token)},
				},
			},
		}},
		// The factory that combines the SSL channel with the plugin's
		// per-call metadata.
		CredentialsFactoryName: fileBasedMetadata,
	}}}
}

func splitHostPort(addr string) (string, uint32, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", portText, err)
	}
	return host, uint32(port), nil
}
