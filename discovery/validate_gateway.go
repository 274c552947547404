package discovery

// Validation of Gateways, of the tcp and tls routes of VirtualServices, and
// of exportTo. Istio's webhook rejects these mistakes; pilotlight also
// rejects what it does not implement, so that a Gateway is either served
// as written or reported, never served differently.

import (
	"strings"

	networking "istio.io/api/networking/v1"
)

// GatewayServerKind is how a Gateway server is served, from its protocol and
// tls.mode.
type GatewayServerKind int

const (
	// GatewayUnsupported: a protocol or TLS mode pilotlight does not serve.
	GatewayUnsupported GatewayServerKind = iota
	// GatewayHTTP: plain HTTP (HTTP, HTTP2, GRPC, GRPC-WEB), routed by the
	// http routes of the bound VirtualServices.
	GatewayHTTP
	// GatewayHTTPS: TLS terminated at the gateway (protocol HTTPS, tls.mode
	// SIMPLE, or MUTUAL to also verify client certificates), then routed as
	// HTTP.
	GatewayHTTPS
	// GatewayPassthrough: TLS left to the destination (protocol HTTPS or
	// TLS, tls.mode PASSTHROUGH), routed by SNI with tls routes.
	GatewayPassthrough
	// GatewayTCP: opaque TCP (TCP, MONGO), routed with tcp routes.
	GatewayTCP
)

// ServerKind classifies a Gateway server. HTTPS and TLS need tls settings
// (tls.mode reads PASSTHROUGH when unset, so the settings must be there).
func ServerKind(s *networking.Server) GatewayServerKind {
	mode := s.GetTls().GetMode()
	protocol := strings.ToUpper(s.GetPort().GetProtocol())
	if (protocol == "HTTPS" || protocol == "TLS") && s.GetTls() == nil {
		return GatewayUnsupported
	}
	switch protocol {
	case "HTTP", "HTTP2", "GRPC", "GRPC-WEB":
		return GatewayHTTP
	case "HTTPS":
		switch mode {
		case networking.ServerTLSSettings_SIMPLE, networking.ServerTLSSettings_MUTUAL:
			return GatewayHTTPS
		case networking.ServerTLSSettings_PASSTHROUGH:
			return GatewayPassthrough
		}
	case "TLS":
		if mode == networking.ServerTLSSettings_PASSTHROUGH {
			return GatewayPassthrough
		}
	case "TCP", "MONGO":
		return GatewayTCP
	}
	return GatewayUnsupported
}

// SharesListener reports whether servers of two kinds can share one port
// (one Envoy listener): TLS-terminating and passthrough servers can, told
// apart by SNI; anything else cannot be told apart on one port.
func SharesListener(a, b GatewayServerKind) bool {
	tlsKind := func(k GatewayServerKind) bool { return k == GatewayHTTPS || k == GatewayPassthrough }
	return (a == b && a == GatewayHTTP) || (tlsKind(a) && tlsKind(b))
}

// SplitGatewayHost splits a Gateway server host, "namespace/host", into its
// two parts. With no slash the namespace is "*": VirtualServices of any
// namespace may bind. "." is the Gateway's own namespace.
func SplitGatewayHost(h string) (namespace, host string) {
	if ns, host, ok := strings.Cut(h, "/"); ok {
		return ns, host
	}
	return "*", h
}

// checkGatewayServer checks one server of a Gateway.
func checkGatewayServer(p *problemList, path string, s *networking.Server) {
	if n := s.GetPort().GetNumber(); n > 65535 {
		p.add(path+".port.number", "port %d is not a TCP port (1..65535)", n)
	}
	for i, h := range s.GetHosts() {
		checkServerHost(p, fieldIndex(path+".hosts", i), h)
	}
	if s.GetPort() == nil {
		return // reported: the port is required
	}
	kind := ServerKind(s)
	if kind == GatewayUnsupported {
		checkUnsupportedServer(p, path, s)
		return
	}
	checkServerTLS(p, path+".tls", kind, s.GetTls())
}

func checkServerHost(p *problemList, path, h string) {
	ns, host := SplitGatewayHost(h)
	if ns != "*" && ns != "." && !dnsLabel.MatchString(ns) {
		p.add(path, "namespace %q: want \"*\", \".\" or a namespace name before the \"/\"", ns)
	}
	switch {
	case strings.Contains(host, "/"):
		p.add(path, "%q: want \"host\" or \"namespace/host\", with one \"/\"", h)
	case !validHostName(host):
		p.add(path, "host %q: want \"*\", \"*.example.com\" or a DNS name", host)
	}
}

// checkUnsupportedServer says why a server cannot be served.
func checkUnsupportedServer(p *problemList, path string, s *networking.Server) {
	protocol := strings.ToUpper(s.GetPort().GetProtocol())
	switch protocol {
	case "HTTPS", "TLS":
		if s.GetTls() == nil {
			p.add(path+".tls", "a %s server needs tls settings (mode SIMPLE, MUTUAL or PASSTHROUGH)", protocol)
			return
		}
		p.add(path+".tls.mode", "mode %s with protocol %s is not supported by pilotlight (supported: HTTPS with SIMPLE, MUTUAL or PASSTHROUGH, TLS with PASSTHROUGH)",
			s.GetTls().GetMode(), protocol)
	case "":
		p.add(path+".port.protocol", "protocol is required (HTTP, HTTPS, TLS or TCP)")
	default:
		p.add(path+".port.protocol", "protocol %q is not supported (HTTP, HTTP2, GRPC, GRPC-WEB, HTTPS, TLS, TCP, MONGO)", s.GetPort().GetProtocol())
	}
}

// checkServerTLS checks the tls settings against what the kind uses.
func checkServerTLS(p *problemList, path string, kind GatewayServerKind, tls *networking.ServerTLSSettings) {
	hasCert := tls.GetCredentialName() != "" || tls.GetServerCertificate() != "" || tls.GetPrivateKey() != "" || tls.GetCaCertificates() != ""
	switch kind {
	case GatewayHTTP, GatewayTCP, GatewayPassthrough:
		if hasCert {
			p.add(path, "certificates are only used by HTTPS servers with mode SIMPLE or MUTUAL; this server does not terminate TLS")
		}
	case GatewayHTTPS:
		checkServerCertificate(p, path, tls)
		checkClientVerification(p, path, tls)
	}
	if len(tls.GetCredentialNames()) > 0 || len(tls.GetTlsCertificates()) > 0 {
		p.add(path, "credentialNames and tlsCertificates are not supported by pilotlight; use credentialName or serverCertificate and privateKey")
	}
	minV, maxV := tls.GetMinProtocolVersion(), tls.GetMaxProtocolVersion()
	if minV != networking.ServerTLSSettings_TLS_AUTO && maxV != networking.ServerTLSSettings_TLS_AUTO && maxV < minV {
		p.add(path+".maxProtocolVersion", "%s is below minProtocolVersion %s", maxV, minV)
	}
}

// checkServerCertificate: a TLS-terminating server needs a certificate,
// from a Secret (credentialName) or from files on the gateway.
func checkServerCertificate(p *problemList, path string, tls *networking.ServerTLSSettings) {
	if name := tls.GetCredentialName(); name != "" {
		if !dnsName.MatchString(name) || strings.HasPrefix(name, "*") {
			p.add(path+".credentialName", "%q is not a Secret name", name)
		}
		return
	}
	switch {
	case tls.GetServerCertificate() == "" && tls.GetPrivateKey() == "":
		p.add(path, "mode %s needs a certificate: credentialName, or serverCertificate and privateKey", tls.GetMode())
	case tls.GetServerCertificate() == "":
		p.add(path+".serverCertificate", "privateKey is set without serverCertificate")
	case tls.GetPrivateKey() == "":
		p.add(path+".privateKey", "serverCertificate is set without privateKey")
	}
}

// checkClientVerification: mode MUTUAL verifies client certificates
// against a CA: the ca.crt of the credentialName Secret (checked with the
// Secrets, CheckGatewaySecrets), or the caCertificates file. Finer checks
// of the client certificate are not implemented, so they are reported
// rather than silently not made.
func checkClientVerification(p *problemList, path string, tls *networking.ServerTLSSettings) {
	mutual := tls.GetMode() == networking.ServerTLSSettings_MUTUAL
	switch {
	case mutual && tls.GetCredentialName() == "" && tls.GetCaCertificates() == "":
		p.add(path+".caCertificates", "mode MUTUAL needs a CA to verify clients with: caCertificates, or ca.crt in the credentialName Secret")
	case !mutual && tls.GetCaCertificates() != "":
		p.add(path+".caCertificates", "only used with mode MUTUAL; mode SIMPLE does not ask clients for certificates")
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"subjectAltNames", len(tls.GetSubjectAltNames()) > 0},
		{"verifyCertificateSpki", len(tls.GetVerifyCertificateSpki()) > 0},
		{"verifyCertificateHash", len(tls.GetVerifyCertificateHash()) > 0},
		{"caCrl", tls.GetCaCrl() != ""},
	} {
		if f.set {
			p.add(path+"."+f.name, "not supported by pilotlight yet; clients are verified against the CA only")
		}
	}
}

// checkServerPorts reports servers of one Gateway that cannot share their
// port with an earlier server: Envoy has one listener per port, and it can
// tell servers apart only by SNI (TLS) or by Host (HTTP, in the routes).
// As in Istio, each server's port has a name of its own: HTTPS route
// tables are named after it.
func checkServerPorts(p *problemList, servers []*networking.Server) {
	first := map[uint32]int{}
	names := map[string]int{}
	for i, s := range servers {
		if s.GetPort() == nil {
			continue
		}
		path := fieldIndex("spec.servers", i) + ".port.name"
		if j, dup := names[s.GetPort().GetName()]; dup {
			p.add(path, "port name %q is already used by spec.servers[%d]", s.GetPort().GetName(), j)
		} else if s.GetPort().GetName() == "" {
			p.add(path, "port name is required")
		} else {
			names[s.GetPort().GetName()] = i
		}
		port := s.GetPort().GetNumber()
		j, seen := first[port]
		if !seen {
			first[port] = i
			continue
		}
		a, b := ServerKind(servers[j]), ServerKind(s)
		if a == GatewayUnsupported || b == GatewayUnsupported {
			continue // reported already
		}
		if !SharesListener(a, b) {
			p.add(fieldIndex("spec.servers", i)+".port", "port %d is already used by spec.servers[%d] with protocol %s; one port serves either HTTP, TLS (told apart by SNI) or one TCP server",
				port, j, servers[j].GetPort().GetProtocol())
		}
	}
}

// CheckGatewaySecrets reports HTTPS servers whose credentialName names a
// Secret that a gateway pod they apply to cannot find. As in Istio, the
// Secret is looked up in the namespace of the gateway pod (the one its
// Envoy runs in), not of the Gateway object. The Gateway stays: translation
// skips only that server, so a missing certificate never reaches Envoy as
// a listener it would reject.
func CheckGatewaySecrets(s *Snapshot) []Problem {
	secrets := map[string]*Secret{}
	for _, sec := range s.Secrets {
		secrets[sec.Key()] = sec
	}
	var problems []Problem
	for _, gw := range s.Gateways {
		p := newProblemList("Gateway", gw.Meta)
		for _, ns := range gatewayPodNamespaces(s.Pods, gw) {
			for i, server := range gw.Spec.GetServers() {
				name := server.GetTls().GetCredentialName()
				if ServerKind(server) != GatewayHTTPS || name == "" {
					continue
				}
				path := fieldIndex("spec.servers", i) + ".tls.credentialName"
				switch secret := secrets[ns+"/"+name]; {
				case secret == nil:
					p.add(path, "Secret %s/%s not found (or holds no usable certificate and key); the gateway pods in namespace %s do not serve this server", ns, name, ns)
				case server.GetTls().GetMode() == networking.ServerTLSSettings_MUTUAL && len(secret.CACert) == 0:
					p.add(path, "Secret %s/%s has no CA certificate (ca.crt or cacert) for mode MUTUAL; the gateway pods in namespace %s do not serve this server", ns, name, ns)
				}
			}
		}
		problems = append(problems, p.list...)
	}
	return problems
}

// gatewayPodNamespaces lists, in order, the namespaces of the pods that a
// Gateway's selector matches. A Gateway without a selector applies to every
// gateway pod, which the snapshot cannot tell from other pods; its own
// namespace, the usual place of its gateway, stands for them.
func gatewayPodNamespaces(pods []*Pod, gw *Gateway) []string {
	selector := gw.Spec.GetSelector()
	if len(selector) == 0 {
		return []string{gw.Namespace}
	}
	seen := map[string]bool{}
	var out []string
	for _, pod := range pods {
		if !labelsMatch(pod.Labels, selector) || seen[pod.Namespace] {
			continue
		}
		seen[pod.Namespace] = true
		out = append(out, pod.Namespace)
	}
	return out
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// checkL4Routes checks the tcp and tls routes of a VirtualService beyond
// their destinations: each needs a destination, and a tls route needs the
// SNI hosts it matches, which must fall within the VirtualService's hosts.
func checkL4Routes(p *problemList, vs *VirtualService) {
	for i, r := range vs.Spec.GetTcp() {
		if len(r.GetRoute()) == 0 {
			p.add(fieldIndex("spec.tcp", i)+".route", "at least one destination is required")
		}
	}
	for i, r := range vs.Spec.GetTls() {
		path := fieldIndex("spec.tls", i)
		if len(r.GetRoute()) == 0 {
			p.add(path+".route", "at least one destination is required")
		}
		if len(r.GetMatch()) == 0 {
			p.add(path+".match", "a tls route needs a match with sniHosts")
		}
		for j, m := range r.GetMatch() {
			checkSNIHosts(p, fieldIndex(path+".match", j)+".sniHosts", vs, m.GetSniHosts())
		}
	}
}

func checkSNIHosts(p *problemList, path string, vs *VirtualService, sniHosts []string) {
	if len(sniHosts) == 0 {
		p.add(path, "at least one SNI host is required")
	}
	for i, sni := range sniHosts {
		if !validHostName(sni) {
			p.add(fieldIndex(path, i), "%q is not a host name", sni)
			continue
		}
		if !vsHostsCover(vs, sni) {
			p.add(fieldIndex(path, i), "%q is not within the VirtualService's hosts %v", sni, vs.Spec.GetHosts())
		}
	}
}

// vsHostsCover: a host of the VirtualService, as written or resolved,
// covers the SNI host.
func vsHostsCover(vs *VirtualService, sni string) bool {
	for _, h := range vs.Spec.GetHosts() {
		if hostCovers(h, sni) || hostCovers(ResolveHost(h, vs.Namespace), ResolveHost(sni, vs.Namespace)) {
			return true
		}
	}
	return false
}

// checkExportTo: each entry is "." (this namespace), "*" (all) or a
// namespace name.
func checkExportTo(p *problemList, exportTo []string) {
	for i, ns := range exportTo {
		if ns != "." && ns != "*" && !dnsLabel.MatchString(ns) {
			p.add(fieldIndex("spec.exportTo", i), "%q: want \".\", \"*\" or a namespace name", ns)
		}
	}
}

// ExportedTo reports whether an object with this exportTo, living in
// namespace own, is visible from namespace ns. No exportTo means all.
func ExportedTo(exportTo []string, own, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		if e == "*" || e == ns || (e == "." && own == ns) {
			return true
		}
	}
	return false
}

// ValidateGateway returns the problems of gw; none means it can be served.
func ValidateGateway(gw *Gateway) []Problem {
	p := newProblemList("Gateway", gw.Meta)
	if len(gw.Spec.GetServers()) == 0 {
		p.add("spec.servers", "at least one server is required")
		return p.list
	}
	for i, s := range gw.Spec.Servers {
		path := fieldIndex("spec.servers", i)
		if s.GetPort().GetNumber() == 0 {
			p.add(path+".port.number", "port number is required")
		}
		if len(s.Hosts) == 0 {
			p.add(path+".hosts", "at least one host is required")
		}
		checkGatewayServer(p, path, s)
	}
	checkServerPorts(p, gw.Spec.Servers)
	checkDurations(p, "spec", gw.Spec)
	checkUnsupported(p, "Gateway", gw.Spec)
	return p.list
}
