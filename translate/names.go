package translate

import "fmt"

// Names mirror Istio's so that a user of Istio recognises every resource.

// OutboundClusterName is outbound|PORT|SUBSET|HOST (SUBSET empty for the
// whole service).
func OutboundClusterName(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, host)
}

// InboundClusterName is inbound|PORT|| : the local app behind the sidecar.
func InboundClusterName(port uint32) string {
	return fmt.Sprintf("inbound|%d||", port)
}

// ListenerName is ADDRESS_PORT, as Istio names its listeners.
func ListenerName(address string, port uint32) string {
	return fmt.Sprintf("%s_%d", address, port)
}

// HTTPProxyRouteName is the route configuration of the outbound HTTP proxy
// listener; Istio uses the same name for its HTTP_PROXY egress port.
const HTTPProxyRouteName = "http_proxy"

// Well-known sidecar ports, as in Istio.
const (
	AdminPort         = 15000
	OutboundProxyPort = 15001
)

// ParseOutboundClusterName reads outbound|PORT|SUBSET|HOST back, for
// messages that name the service a cluster came from.
func ParseOutboundClusterName(name string) (port uint32, subset, host string, ok bool) {
	return parseOutboundClusterName(name)
}
