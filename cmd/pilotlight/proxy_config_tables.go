package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func newConfigMessage(kind string) proto.Message {
	switch kind {
	case "cluster":
		return &cluster.Cluster{}
	case "listener":
		return &listener.Listener{}
	case "route":
		return &route.RouteConfiguration{}
	case "endpoint":
		return &endpoint.ClusterLoadAssignment{}
	}
	return &tlsv3.Secret{}
}

func resourceName(m proto.Message) string { return cachev3.GetResourceName(m) }

// configTables print each kind as istioctl's proxy-config does.
var configTables = map[string]func(*tabwriter.Writer, []proto.Message){
	"cluster":  clusterTable,
	"listener": listenerTable,
	"route":    routeTable,
	"endpoint": endpointTable,
	"secret":   secretTable,
}

// clusterTable reads Istio-style names: direction|port|subset|fqdn.
func clusterTable(w *tabwriter.Writer, msgs []proto.Message) {
	fmt.Fprintln(w, "SERVICE FQDN\tPORT\tSUBSET\tDIRECTION\tTYPE")
	for _, m := range msgs {
		c := m.(*cluster.Cluster)
		fqdn, port, subset, dir := c.Name, "-", "-", "-"
		if parts := strings.Split(c.Name, "|"); len(parts) == 4 {
			dir, port = parts[0], parts[1]
			if parts[2] != "" {
				subset = parts[2]
			}
			if parts[3] != "" {
				fqdn = parts[3]
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", fqdn, port, subset, dir, c.GetType())
	}
}

func listenerTable(w *tabwriter.Writer, msgs []proto.Message) {
	fmt.Fprintln(w, "ADDRESSES\tPORT\tMATCH\tDESTINATION")
	for _, m := range msgs {
		l := m.(*listener.Listener)
		sa := l.GetAddress().GetSocketAddress()
		for _, fc := range l.FilterChains {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", sa.GetAddress(), sa.GetPortValue(), chainMatch(fc.FilterChainMatch), chainDestination(fc))
		}
	}
}

func chainMatch(m *listener.FilterChainMatch) string {
	var parts []string
	if len(m.GetServerNames()) > 0 {
		parts = append(parts, "SNI: "+strings.Join(m.ServerNames, ","))
	}
	if m.GetTransportProtocol() != "" {
		parts = append(parts, "Trans: "+m.TransportProtocol)
	}
	if len(m.GetApplicationProtocols()) > 0 {
		parts = append(parts, "App: "+strings.Join(m.ApplicationProtocols, ","))
	}
	if len(parts) == 0 {
		return "ALL"
	}
	return strings.Join(parts, "; ")
}

func chainDestination(fc *listener.FilterChain) string {
	for _, f := range fc.Filters {
		switch cfg := typedConfig(f.GetTypedConfig()).(type) {
		case *hcm.HttpConnectionManager:
			if rds := cfg.GetRds(); rds != nil {
				return "Route: " + rds.RouteConfigName
			}
			return "Inline Route: " + cfg.GetRouteConfig().GetName()
		case *tcpproxy.TcpProxy:
			if c := cfg.GetCluster(); c != "" {
				return "Cluster: " + c
			}
			return "Clusters: weighted"
		}
	}
	return "-"
}

func routeTable(w *tabwriter.Writer, msgs []proto.Message) {
	fmt.Fprintln(w, "NAME\tVHOST NAME\tDOMAINS\tMATCH\tDESTINATION")
	for _, m := range msgs {
		rc := m.(*route.RouteConfiguration)
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", rc.Name, vh.Name, domains(vh.Domains), routeMatch(r.Match), routeDestination(r))
			}
		}
	}
}

func domains(d []string) string {
	switch len(d) {
	case 0:
		return "-"
	case 1:
		return d[0]
	}
	return fmt.Sprintf("%s + %d more...", d[0], len(d)-1)
}

func routeMatch(m *route.RouteMatch) string {
	switch p := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		return p.Prefix + "*"
	case *route.RouteMatch_Path:
		return p.Path
	case *route.RouteMatch_SafeRegex:
		return "~" + p.SafeRegex.GetRegex()
	case *route.RouteMatch_PathSeparatedPrefix:
		return p.PathSeparatedPrefix + "/*"
	}
	return "-"
}

func routeDestination(r *route.Route) string {
	switch a := r.GetAction().(type) {
	case *route.Route_Route:
		if c := a.Route.GetCluster(); c != "" {
			return c
		}
		var parts []string
		for _, wc := range a.Route.GetWeightedClusters().GetClusters() {
			parts = append(parts, fmt.Sprintf("%s %d%%", wc.Name, wc.GetWeight().GetValue()))
		}
		return strings.Join(parts, ", ")
	case *route.Route_Redirect:
		return "redirect"
	case *route.Route_DirectResponse:
		return fmt.Sprintf("direct response %d", a.DirectResponse.GetStatus())
	}
	return "-"
}

func endpointTable(w *tabwriter.Writer, msgs []proto.Message) {
	fmt.Fprintln(w, "ENDPOINT\tSTATUS\tCLUSTER")
	for _, m := range msgs {
		cla := m.(*endpoint.ClusterLoadAssignment)
		for _, locality := range cla.Endpoints {
			for _, lb := range locality.LbEndpoints {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				status := "HEALTHY" // UNKNOWN: Envoy treats it as healthy
				if hs := lb.GetHealthStatus(); hs != core.HealthStatus_UNKNOWN && hs != core.HealthStatus_HEALTHY {
					status = hs.String()
				}
				fmt.Fprintf(w, "%s:%d\t%s\t%s\n", sa.GetAddress(), sa.GetPortValue(), status, cla.ClusterName)
			}
		}
	}
}

// secretTable shows certificates, never keys: istioctl's columns.
func secretTable(w *tabwriter.Writer, msgs []proto.Message) {
	fmt.Fprintln(w, "RESOURCE NAME\tTYPE\tVALID CERT\tSERIAL NUMBER\tNOT AFTER\tNOT BEFORE")
	now := time.Now()
	for _, m := range msgs {
		s := m.(*tlsv3.Secret)
		kind, pemBytes := "-", []byte(nil)
		switch {
		case s.GetTlsCertificate() != nil:
			kind, pemBytes = "Cert Chain", dataSourceBytes(s.GetTlsCertificate().GetCertificateChain())
		case s.GetValidationContext() != nil:
			kind, pemBytes = "CA", dataSourceBytes(s.GetValidationContext().GetTrustedCa())
		}
		cert := firstCert(pemBytes)
		if cert == nil {
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\t-\n", s.Name, kind)
			continue
		}
		valid := now.After(cert.NotBefore) && now.Before(cert.NotAfter)
		fmt.Fprintf(w, "%s\t%s\t%t\t%x\t%s\t%s\n", s.Name, kind, valid, cert.SerialNumber,
			cert.NotAfter.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339))
	}
}

func dataSourceBytes(ds *core.DataSource) []byte {
	if b := ds.GetInlineBytes(); b != nil {
		return b
	}
	return []byte(ds.GetInlineString())
}

func firstCert(pemBytes []byte) *x509.Certificate {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return cert
}

// typedConfig decodes a filter's typed_config, or returns nil.
func typedConfig(a *anypb.Any) proto.Message {
	if a == nil {
		return nil
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil
	}
	return m
}
