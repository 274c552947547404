package translate

import (
	"slices"
	"strconv"
	"strings"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// Which patches match which part of a proxy's config, as Istio matches
// them (listener_patch.go, rc_patch.go, cluster_patch.go), with old filter
// names matching their current ones.

// contextMatches: the patch's match.context is the resource's, or ANY.
func contextMatches(p *envoyFilterPatch, ctx networking.EnvoyFilter_PatchContext) bool {
	return p.match.Context == networking.EnvoyFilter_ANY || p.match.Context == ctx
}

// listenerContext is SIDECAR_INBOUND or SIDECAR_OUTBOUND by the listener's
// direction, or GATEWAY.
func (e proxyEnv) listenerContext(l *listener.Listener) networking.EnvoyFilter_PatchContext {
	switch {
	case e.gateway:
		return networking.EnvoyFilter_GATEWAY
	case l.TrafficDirection == core.TrafficDirection_INBOUND:
		return networking.EnvoyFilter_SIDECAR_INBOUND
	}
	return networking.EnvoyFilter_SIDECAR_OUTBOUND
}

// clusterContext: inbound|… clusters are a sidecar's inbound side.
func (e proxyEnv) clusterContext(c *cluster.Cluster) networking.EnvoyFilter_PatchContext {
	switch {
	case e.gateway:
		return networking.EnvoyFilter_GATEWAY
	case strings.HasPrefix(c.Name, "inbound|"):
		return networking.EnvoyFilter_SIDECAR_INBOUND
	}
	return networking.EnvoyFilter_SIDECAR_OUTBOUND
}

// routeContext of an RDS route table: a gateway's, or a sidecar's outbound
// one (inbound route tables are inline in their listeners).
func (e proxyEnv) routeContext() networking.EnvoyFilter_PatchContext {
	if e.gateway {
		return networking.EnvoyFilter_GATEWAY
	}
	return networking.EnvoyFilter_SIDECAR_OUTBOUND
}

// listenerMatches: match.listener's name and portNumber (the port the
// listener binds).
func listenerMatches(p *envoyFilterPatch, l *listener.Listener) bool {
	m := p.match.GetListener()
	if m == nil {
		return true
	}
	if m.Name != "" && m.Name != l.Name {
		return false
	}
	return m.PortNumber == 0 || l.GetAddress().GetSocketAddress().GetPortValue() == m.PortNumber
}

// filterChainMatches: match.listener.filterChain's name, sni,
// transportProtocol, applicationProtocols and destinationPort.
func filterChainMatches(p *envoyFilterPatch, fc *listener.FilterChain) bool {
	m := p.match.GetListener().GetFilterChain()
	if m == nil {
		return true
	}
	fcm := fc.GetFilterChainMatch()
	switch {
	case m.Name != "" && m.Name != fc.Name:
		return false
	case m.Sni != "" && !slices.Contains(fcm.GetServerNames(), m.Sni):
		return false
	case m.TransportProtocol != "" && fcm.GetTransportProtocol() != m.TransportProtocol:
		return false
	case m.DestinationPort != 0 && fcm.GetDestinationPort().GetValue() != m.DestinationPort:
		return false
	}
	if m.ApplicationProtocols != "" {
		for _, proto := range strings.Split(m.ApplicationProtocols, ",") {
			if !slices.Contains(fcm.GetApplicationProtocols(), proto) {
				return false
			}
		}
	}
	return true
}

// hasNetworkFilterMatch: the patch names a network filter.
func hasNetworkFilterMatch(p *envoyFilterPatch) bool {
	return p.match.GetListener().GetFilterChain().GetFilter() != nil
}

func networkFilterMatches(p *envoyFilterPatch, f *listener.Filter) bool {
	m := p.match.GetListener().GetFilterChain().GetFilter()
	return m == nil || networkFilterName(m.Name) == networkFilterName(f.Name)
}

// hasHTTPFilterMatch: the patch names an HTTP filter (subFilter).
func hasHTTPFilterMatch(p *envoyFilterPatch) bool {
	return p.match.GetListener().GetFilterChain().GetFilter().GetSubFilter() != nil
}

func httpFilterMatches(p *envoyFilterPatch, f *hcm.HttpFilter) bool {
	m := p.match.GetListener().GetFilterChain().GetFilter().GetSubFilter()
	return m == nil || httpFilterName(m.Name) == httpFilterName(f.Name)
}

// routeConfigMatches: match.routeConfiguration's portNumber, portName,
// gateway and name, read from the route table's name as Istio names them:
// "inbound|8080||" and port numbers on sidecars, "http.80" and
// "https.443.portName.gateway.namespace" on gateways.
func routeConfigMatches(p *envoyFilterPatch, ctx networking.EnvoyFilter_PatchContext, rc *route.RouteConfiguration) bool {
	m := p.match.GetRouteConfiguration()
	if m == nil {
		return true
	}
	if m.Name != "" && m.Name != rc.Name {
		return false
	}
	port, portName, gateway := routeTableName(ctx, rc.Name)
	if m.PortNumber != 0 && m.PortNumber != port {
		return false
	}
	if ctx != networking.EnvoyFilter_GATEWAY {
		return true
	}
	return (m.PortName == "" || m.PortName == portName) && (m.Gateway == "" || m.Gateway == gateway)
}

// routeTableName reads a route table's port, server port name and gateway
// (namespace/name) from its name.
func routeTableName(ctx networking.EnvoyFilter_PatchContext, name string) (port uint32, portName, gateway string) {
	atoi := func(s string) uint32 {
		n, _ := strconv.ParseUint(s, 10, 32)
		return uint32(n)
	}
	if ctx != networking.EnvoyFilter_GATEWAY {
		if rest, ok := strings.CutPrefix(name, "inbound|"); ok {
			p, _, _ := strings.Cut(rest, "|")
			return atoi(p), "", ""
		}
		return atoi(name), "", ""
	}
	if rest, ok := strings.CutPrefix(name, "http."); ok {
		return atoi(rest), "", ""
	}
	parts := strings.Split(name, ".")
	if len(parts) == 5 && parts[0] == "https" {
		return atoi(parts[1]), parts[2], parts[4] + "/" + parts[3]
	}
	return 0, "", ""
}

// virtualHostMatches: match.routeConfiguration.vhost's name, exactly as
// the virtual host is named ("*:80", "catalogue.sock-shop.svc.cluster.local:80",
// "inbound|http|8080"), and its domainName, one of the host's domains.
func virtualHostMatches(p *envoyFilterPatch, vh *route.VirtualHost) bool {
	m := p.match.GetRouteConfiguration().GetVhost()
	if m == nil {
		return true
	}
	return (m.Name == "" || m.Name == vh.Name) && (m.DomainName == "" || slices.Contains(vh.Domains, m.DomainName))
}

// routeMatches: match.routeConfiguration.vhost.route's name and action.
func routeMatches(p *envoyFilterPatch, r *route.Route) bool {
	m := p.match.GetRouteConfiguration().GetVhost().GetRoute()
	if m == nil {
		return true
	}
	if m.Name != "" && m.Name != r.Name {
		return false
	}
	switch m.Action {
	case networking.EnvoyFilter_RouteConfigurationMatch_RouteMatch_ROUTE:
		return r.GetRoute() != nil
	case networking.EnvoyFilter_RouteConfigurationMatch_RouteMatch_REDIRECT:
		return r.GetRedirect() != nil
	case networking.EnvoyFilter_RouteConfigurationMatch_RouteMatch_DIRECT_RESPONSE:
		return r.GetDirectResponse() != nil
	}
	return true
}

// clusterMatches: match.cluster's name, or the service, subset and port
// read from outbound|port|subset|host. An inbound cluster's services are
// those of the pod that send to its port.
func (e proxyEnv) clusterMatches(p *envoyFilterPatch, c *cluster.Cluster) bool {
	m := p.match.GetCluster()
	if m == nil {
		return true
	}
	if m.Name != "" {
		return m.Name == c.Name
	}
	parts := strings.Split(c.Name, "|")
	if len(parts) != 4 {
		return m.Service == "" && m.Subset == "" && m.PortNumber == 0
	}
	port, _ := strconv.ParseUint(parts[1], 10, 32)
	hosts := []string{parts[3]}
	if parts[0] == "inbound" {
		hosts = e.inboundServices(uint32(port))
	}
	return (m.Subset == "" || m.Subset == parts[2]) &&
		(m.Service == "" || slices.Contains(hosts, m.Service)) &&
		(m.PortNumber == 0 || uint64(m.PortNumber) == port)
}

// inboundServices are the hosts of the services that send to the pod's
// target port.
func (e proxyEnv) inboundServices(port uint32) []string {
	var hosts []string
	for _, svc := range e.snap.Services {
		if svc.Namespace != e.pod.Namespace || len(svc.Selector) == 0 || !hasLabels(e.pod.Labels, svc.Selector) {
			continue
		}
		for _, sp := range svc.Ports {
			if target, ok := e.pod.ResolveTargetPort(sp); ok && target == port {
				hosts = append(hosts, svc.Hostname)
			}
		}
	}
	return hosts
}
