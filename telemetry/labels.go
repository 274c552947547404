package telemetry

import (
	"net/netip"
	"strconv"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/translate"
)

const (
	unknown = "unknown"
	// clusterID is Istio's default cluster name (source_cluster,
	// destination_cluster): pilotlight serves one cluster.
	clusterID = "Kubernetes"
)

// peer is one side of a request, as Istio's labels describe it.
type peer struct {
	workload, namespace, principal, app, version, canonicalService, canonicalRevision string
}

var unknownPeer = peer{unknown, unknown, unknown, unknown, unknown, unknown, unknown}

func podPeer(p *discovery.Pod) peer {
	if p == nil {
		return unknownPeer
	}
	return peer{
		workload: p.WorkloadName(), namespace: p.Namespace, principal: unknown,
		app: orUnknown(p.Labels["app"]), version: orUnknown(p.Labels["version"]),
		canonicalService: p.CanonicalService(), canonicalRevision: p.CanonicalRevision(),
	}
}

// attribution is who called whom, for one access log entry.
type attribution struct {
	reporter            string // "source" or "destination"
	source, destination peer
	service             *discovery.Service
	securityPolicy      string
}

// attribute works out both peers of an entry logged by proxy self: the
// proxy is the source on its outbound side (and on a gateway), the
// destination on its inbound side; the other peer is found by address.
// authority is the request's Host ("" for TCP).
func attribute(ix *meshIndex, self *discovery.Pod, logName string, c *accesslogdata.AccessLogCommon, authority string) attribution {
	if logName == translate.AccessLogDestination {
		a := attribution{reporter: "destination", destination: podPeer(self), securityPolicy: "none"}
		remote := c.GetDownstreamDirectRemoteAddress()
		if remote == nil {
			remote = c.GetDownstreamRemoteAddress()
		}
		a.source = podPeer(ix.podAt(ip(remote)))
		if tls := c.GetTlsProperties(); tls.GetPeerCertificateProperties() != nil {
			a.securityPolicy = "mutual_tls"
			a.source.principal = uriSAN(tls.GetPeerCertificateProperties())
			a.destination.principal = uriSAN(tls.GetLocalCertificateProperties())
		}
		if authority != "" {
			a.service = ix.serviceOfAuthority(authority, self.Namespace)
		}
		if a.service == nil {
			a.service = ix.serviceOfPod(self, port(c.GetDownstreamLocalAddress()))
		}
		return a
	}
	a := attribution{reporter: "source", source: podPeer(self), securityPolicy: unknown}
	a.destination = podPeer(ix.podAt(ip(c.GetUpstreamRemoteAddress())))
	a.service = ix.serviceOfCluster(c.GetUpstreamCluster())
	if a.service == nil && authority != "" {
		a.service = ix.serviceOfAuthority(authority, self.Namespace)
	}
	return a
}

// values are the peer labels (peerLabels' order) of an attribution.
func (a attribution) values(protocol string) []string {
	svcHost, svcName, svcNamespace := unknown, unknown, unknown
	if a.service != nil {
		svcHost, svcName, svcNamespace = a.service.Hostname, a.service.Name, a.service.Namespace
	}
	s, d := a.source, a.destination
	return []string{
		a.reporter,
		s.workload, s.namespace, s.principal, s.app, s.version, s.canonicalService, s.canonicalRevision, clusterID,
		d.workload, d.namespace, d.principal, d.app, d.version,
		svcHost, svcName, svcNamespace,
		d.canonicalService, d.canonicalRevision, clusterID,
		protocol,
	}
}

func ip(a *core.Address) netip.Addr {
	addr, err := netip.ParseAddr(a.GetSocketAddress().GetAddress())
	if err != nil {
		return netip.Addr{}
	}
	return addr
}

func port(a *core.Address) uint32 { return a.GetSocketAddress().GetPortValue() }

func uriSAN(c *accesslogdata.TLSProperties_CertificateProperties) string {
	for _, san := range c.GetSubjectAltName() {
		if uri := san.GetUri(); uri != "" {
			return uri
		}
	}
	return unknown
}

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// responseCode is the status as a label: 0 when there was none, and never
// a number outside HTTP's range (a proxy's log is input we do not trust).
func responseCode(code uint32) string {
	if code < 100 || code > 599 {
		return "0"
	}
	return strconv.FormatUint(uint64(code), 10)
}
