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
	Proxy     Proxy
	XDSAddr   string // host:port of pilotlight's ADS server
	AdminAddr string // host:port of Envoy's admin interface
	Delta     bool   // incremental (Delta) xDS instead of state of the world
	// Version is the version of pilotlight that wrote the bootstrap, sent
	// in node.metadata.PILOTLIGHT_VERSION (as Istio sends ISTIO_VERSION),
	// so that /config_dump and the control plane can tell.
	Version string
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
		StaticResources: &bootstrap.Bootstrap_StaticResources{Clusters: []*cluster.Cluster{xdsCluster(xdsHost, xdsPort)}},
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

// xdsCluster speaks HTTP/2 (gRPC) to the control plane.
func xdsCluster(host string, port uint32) *cluster.Cluster {
	c := &cluster.Cluster{
		Name:                 XDSClusterName,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
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

// nodeMetadata is the bootstrap's node.metadata, or nil when there is none.
func nodeMetadata(o BootstrapOptions) *structpb.Struct {
	if o.Version == "" {
		return nil
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{"PILOTLIGHT_VERSION": structpb.NewStringValue(o.Version)}}
}
