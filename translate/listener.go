package translate

import (
	"fmt"
	"strconv"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/discovery"
)

// How traffic enters and leaves a sidecar in local mode (no iptables); see
// the README's diagram:
//   - outbound: the app sends plain HTTP to an HTTP proxy listener on its
//     localhost:15001 (HTTP_PROXY), which routes by Host to the services.
//   - inbound: mesh traffic arrives at podIP:targetPort (the Kubernetes
//     endpoint) and is handed to the app on localhost:targetPort.
// With iptables capture the same clusters and routes serve; only the
// listeners' addresses differ, which is why they are built apart here.

// outboundProxyListener is the sidecar's egress: an explicit HTTP proxy.
func outboundProxyListener(snap *discovery.Snapshot, pod *discovery.Pod) *listener.Listener {
	manager := &hcm.HttpConnectionManager{
		StatPrefix: "outbound_http_proxy",
		// rds: the routes come over ADS as route configuration "http_proxy".
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			RouteConfigName: HTTPProxyRouteName,
			ConfigSource:    adsConfigSource(),
		}},
		// http_protocol_options.allow_absolute_url: accept "GET http://host/"
		// as HTTP proxies receive it.
		HttpProtocolOptions: &core.Http1ProtocolOptions{AllowAbsoluteUrl: wrapperspb.Bool(true)},
		HttpFilters:         httpFilters(filterContext{dir: outbound, snap: snap, pod: pod}),
	}
	addr := pod.LocalAddress()
	return &listener.Listener{
		Name:             ListenerName(addr, OutboundProxyPort),
		Address:          socketAddress(addr, OutboundProxyPort),
		FilterChains:     []*listener.FilterChain{{Name: "outbound_http_proxy", Filters: []*listener.Filter{hcmFilter(manager)}}},
		TrafficDirection: core.TrafficDirection_OUTBOUND,
	}
}

func hcmFilter(manager *hcm.HttpConnectionManager) *listener.Filter {
	return &listener.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(manager)},
	}
}

// portNumbers are the numbers of a pod's inbound ports.
func portNumbers(ports []discovery.InboundPort) []uint32 {
	out := make([]uint32, len(ports))
	for i, p := range ports {
		out[i] = p.Port
	}
	return out
}

// mustAny wraps a message in Any. Marshaling our own well-formed messages
// cannot fail, so a failure is a programming error.
// Deterministic, so that equal config always gives equal bytes and versions.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(err)
	}
	return a
}

func uitoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// pad sorts ports numerically as strings.
func pad(n uint32) string { return fmt.Sprintf("%010d", n) }
