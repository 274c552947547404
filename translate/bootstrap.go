package translate

import (
	"fmt"
	"net"
	"strconv"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// XDSClusterName is the static cluster through which Envoy reaches us.
const XDSClusterName = "xds-grpc"

// BootstrapOptions say how one Envoy finds the control plane.
type BootstrapOptions struct {
	// Proxy is who the Envoy is. Proxy.Interception goes into the node
	// metadata (INTERCEPTION_MODE), which decides its listeners.
	Proxy Proxy
	// XDSAddr is host:port of pilotlight's ADS server. A host name (the
	// in-cluster Service) is resolved by DNS.
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
	// DNSAddr is host:port of the control plane's DNS server for the
	// mesh's names (folder mode), "" for the host's resolvers.
	DNSAddr string
}

// Bootstrap is the static config an Envoy starts with: who it is (node),
// where its admin listens, and that everything else comes over ADS.
func Bootstrap(o BootstrapOptions) (*bootstrap.Bootstrap, error) {
	xdsHost, xdsPort, err := splitHostPort(o.XDSAddr)
	if err != nil {
		return nil, fmt.Errorf("xds address: %w", err)
	}
	adminHost, adminPort, err := splitHostPort(o.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin address: %w", err)
	}
	apiType := core.ApiConfigSource_GRPC
	if o.Delta {
		apiType = core.ApiConfigSource_DELTA_GRPC
	}
	static := &bootstrap.Bootstrap_StaticResources{Clusters: []*cluster.Cluster{xdsCluster(xdsHost, xdsPort)}}
	if o.HealthPort != 0 {
		static.Clusters = append(static.Clusters, adminCluster(adminHost, adminPort))
		static.Listeners = append(static.Listeners, healthListener(o.HealthPort))
	}
	b := &bootstrap.Bootstrap{
		Node:  &core.Node{Id: o.Proxy.NodeID(), Cluster: o.Proxy.PodName + "." + o.Proxy.Namespace, Metadata: nodeMetadata(o)},
		Admin: &bootstrap.Admin{Address: socketAddress(adminHost, adminPort)},
		DynamicResources: &bootstrap.Bootstrap_DynamicResources{
			AdsConfig: &core.ApiConfigSource{
				ApiType:             apiType,
				TransportApiVersion: core.ApiVersion_V3,
				GrpcServices: []*core.GrpcService{{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName},
				}}},
			},
			CdsConfig: adsConfigSource(),
			LdsConfig: adsConfigSource(),
		},
		StaticResources: static,
	}
	if o.DNSAddr != "" {
		dnsHost, dnsPort, err := splitHostPort(o.DNSAddr)
		if err != nil {
			return nil, fmt.Errorf("dns address: %w", err)
		}
		b.TypedDnsResolverConfig = dnsResolver(dnsHost, dnsPort)
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

// xdsCluster speaks HTTP/2 (gRPC) to the control plane.
func xdsCluster(host string, port uint32) *cluster.Cluster {
	discoveryType := cluster.Cluster_STATIC
	if net.ParseIP(host) == nil {
		discoveryType = cluster.Cluster_STRICT_DNS // e.g. pilotlight.pilotlight-system.svc
	}
	c := &cluster.Cluster{
		Name:                 XDSClusterName,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: discoveryType},
		ConnectTimeout:       durationSeconds(1),
		LoadAssignment:       loadAssignment(XDSClusterName, []hostPort{{host, port}}),
	}
	// typed_extension_protocol_options: HTTP/2 upstream, as gRPC needs.
	setHTTPProtocolOptions(c, &upstreamhttp.HttpProtocolOptions{}, true)
	return c
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
