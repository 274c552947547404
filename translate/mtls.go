package translate

import (
	"fmt"
	"slices"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rawbuffer "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/discovery"
)

// Mutual TLS between sidecars, the way Istio sets it up, so that each side
// sees the other's SPIFFE identity:
//
//	client side (outbound clusters)
//	  DestinationRule tls ISTIO_MUTUAL  transport_socket: mTLS, always
//	  no tls at all (auto-mTLS)         transport_socket_matches: mTLS to
//	                                    endpoints marked tlsMode=istio (pods
//	                                    with a sidecar whose port is not
//	                                    DISABLE), plaintext to the others
//	server side (inbound listeners, inbound.go), by PeerAuthentication mode
//	  STRICT      one chain, TLS with a client certificate required
//	  PERMISSIVE  tls_inspector; a TLS chain for Istio's ALPN, a plaintext one
//	  DISABLE     plaintext only
//
// Both sides present SDS "default" and verify the peer against SDS
// "ROOTCA" (mtls_secrets.go); the client also checks the server's SPIFFE
// ID against the service's service accounts.

// mtlsALPN is what a client sidecar offers (Istio's ALPNInMeshWithMxc): the
// server's PERMISSIVE TLS chain matches on it, so TLS from a client outside
// the mesh falls to another chain.
var mtlsALPN = []string{"istio-peer-exchange", "istio"}

// inboundMTLSALPN are the application_protocols of the PERMISSIVE TLS
// chain: every ALPN an Istio sidecar (of any version) offers.
var inboundMTLSALPN = []string{"istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"}

// meshCipherSuites are Istio's for mesh mTLS (TLS 1.2; 1.3 chooses its own).
var meshCipherSuites = []string{
	"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
}

// transportSocketMatchKey is the endpoint metadata namespace Envoy reads for
// transport_socket_matches; tlsMode=istio is Istio's label of a meshed pod.
const (
	transportSocketMatchKey = "envoy.transport_socket_match"
	tlsModeKey              = "tlsMode"
	tlsModeIstio            = "istio"
)

// OutboundSNI is the SNI of mesh mTLS to a cluster, as Istio writes it
// (BuildDNSSrvSubsetKey): outbound_.PORT_.SUBSET_.HOST, "_" for no subset.
func OutboundSNI(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound_.%d_.%s_.%s", port, subset, host)
}

// sdsSecret refers to an SDS secret on the ADS stream. Like Istio, with no
// initial_fetch_timeout: a listener or cluster waits for its certificate
// rather than serving without one.
func sdsSecret(name string) *tlsv3.SdsSecretConfig {
	source := adsConfigSource()
	source.InitialFetchTimeout = durationpb.New(0)
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: source}
}

// meshTLSParams: TLS 1.2 to 1.3, with Istio's ciphers.
func meshTLSParams() *tlsv3.TlsParameters {
	return &tlsv3.TlsParameters{
		TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
		TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
		CipherSuites:              meshCipherSuites,
	}
}

// inboundMTLS terminates mesh mTLS (Istio's BuildInboundTLS):
// require_client_certificate, the proxy's "default" certificate, clients
// verified against "ROOTCA". No SAN check: which identities may call is
// authorization's job. ALPN h2 and http/1.1 for HTTP (never "istio": that
// is only for choosing the chain).
func inboundMTLS(http bool) *core.TransportSocket {
	common := &tlsv3.CommonTlsContext{
		TlsParams:                      meshTLSParams(),
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsSecret(WorkloadCertSecretName)},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: sdsSecret(RootCASecretName),
		},
	}
	if http {
		common.AlpnProtocols = gatewayALPN
	}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common, RequireClientCertificate: wrapperspb.Bool(true)}
	return &core.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}}
}

// outboundMTLS originates mesh mTLS (Istio's ISTIO_MUTUAL): the proxy's
// "default" certificate; the server verified against "ROOTCA" and, when
// sans is not empty, required to be one of them (combined_validation_context:
// SAN matchers beside the SDS roots). ALPN istio-peer-exchange and istio
// (which the server's PERMISSIVE chain matches), plus h2 on HTTP/2 clusters.
func outboundMTLS(sni string, sans []string, http2 bool) *core.TransportSocket {
	alpn := mtlsALPN
	if http2 {
		alpn = append(append([]string{}, mtlsALPN...), "h2")
	}
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      meshTLSParams(),
			AlpnProtocols:                  alpn,
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsSecret(WorkloadCertSecretName)},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: subjectAltNameMatchers(sans)},
					ValidationContextSdsSecretConfig: sdsSecret(RootCASecretName),
				},
			},
		},
	}
	return tlsTransportSocket(ctx)
}

// rawBufferSocket is plaintext, spelled out: a transport_socket_matches
// entry needs a socket.
func rawBufferSocket() *core.TransportSocket {
	return &core.TransportSocket{Name: wellknown.TransportSocketRawBuffer, ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(&rawbuffer.RawBuffer{})}}
}

// applyMeshTLS gives an outbound cluster mesh mTLS: always with
// DestinationRule tls ISTIO_MUTUAL, and with no tls at all (auto-mTLS)
// toward the endpoints marked tlsMode=istio. SIMPLE, MUTUAL and DISABLE
// were applied by applyTLS; a passthrough cluster has no endpoints to mark.
func (m *Mesh) applyMeshTLS(c *cluster.Cluster, host, subset string, port uint32, policy *networking.TrafficPolicy, http2 bool) {
	tls := policy.GetTls()
	sni := OutboundSNI(port, subset, host)
	switch {
	case tls.GetMode() == networking.ClientTLSSettings_ISTIO_MUTUAL:
		if tls.GetSni() != "" {
			sni = tls.GetSni()
		}
		sans := tls.GetSubjectAltNames()
		if len(sans) == 0 {
			sans = m.serviceIdentities()[host]
		}
		c.TransportSocket = outboundMTLS(sni, sans, http2)
	case tls == nil && !isPassthrough(policy):
		c.TransportSocketMatches = []*cluster.Cluster_TransportSocketMatch{
			{
				Name:            "tlsMode-istio",
				Match:           tlsModeMetadata(),
				TransportSocket: outboundMTLS(sni, m.serviceIdentities()[host], http2),
			},
			{Name: "tlsMode-disabled", Match: &structpb.Struct{}, TransportSocket: rawBufferSocket()},
		}
	}
}

func tlsModeMetadata() *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{tlsModeKey: structpb.NewStringValue(tlsModeIstio)}}
}

// endpointMetadata marks an endpoint that accepts mesh mTLS.
func endpointMetadata() *core.Metadata {
	return &core.Metadata{FilterMetadata: map[string]*structpb.Struct{transportSocketMatchKey: tlsModeMetadata()}}
}

// acceptsMeshTLS: the endpoint is a pod with a sidecar whose target port is
// not DISABLE, so a client may send it mTLS (Istio drops the tlsMode label
// of such endpoints too).
func (m *Mesh) acceptsMeshTLS(namespace string, ep *discovery.Endpoint, targetPort uint32) bool {
	pod := m.snap.Pod(namespace, ep.PodName)
	return pod != nil && pod.HasSidecar() && m.peers.Mode(pod, targetPort) != authn.Disable
}

// buildServiceIdentities maps each service host to the SPIFFE IDs of the
// service accounts of its endpoints' pods (sorted): what a client accepts
// as the server's certificate.
//
// The service accounts are collected first and each made an ID once: a
// service's pods mostly share one, and the mesh is compared by these on
// every endpoint change (SameServiceIdentities). Its pods are found in
// its namespace, so sorting the accounts sorts the IDs. A service whose
// endpoints are the very list an earlier mesh made its IDs of keeps them:
// a source's Builder makes a service's endpoints again whenever a pod they
// name changes, so the same list means the same pods.
func (m *Mesh) buildServiceIdentities() *madeIdentities {
	earlier := m.earlierIdentities
	if earlier != nil && earlier.trustDomain != m.trustDomain {
		earlier = nil
	}
	n := len(m.snap.Services)
	made := &madeIdentities{trustDomain: m.trustDomain, byHost: make(map[string][]string, n), from: make(map[string][]*discovery.Endpoint, n)}
	var accounts []string
	for _, svc := range m.snap.Services {
		eps := m.snap.Endpoints[svc.Key()]
		made.from[svc.Hostname] = eps
		if earlier != nil && sameList(earlier.from[svc.Hostname], eps) {
			if ids, ok := earlier.byHost[svc.Hostname]; ok {
				made.byHost[svc.Hostname] = ids
			}
			continue
		}
		accounts = accounts[:0]
		for _, ep := range eps {
			if pod := m.snap.Pod(svc.Namespace, ep.PodName); pod != nil && pod.HasSidecar() {
				accounts = append(accounts, pod.ServiceAccount)
			}
		}
		if len(accounts) == 0 {
			continue
		}
		slices.Sort(accounts)
		ids := make([]string, 0, 1)
		for _, sa := range slices.Compact(accounts) {
			ids = append(ids, authn.SpiffeID(m.trustDomain, svc.Namespace, sa))
		}
		made.byHost[svc.Hostname] = ids
	}
	return made
}

// serviceIdentities: host -> the SPIFFE IDs its servers may present.
func (m *Mesh) serviceIdentities() map[string][]string { return m.identities().byHost }

// madeIdentities are the server identities of a mesh's services, and the
// endpoints each was made of, for the next mesh (NewMeshFollowing).
type madeIdentities struct {
	trustDomain string
	byHost      map[string][]string              // host -> SPIFFE IDs
	from        map[string][]*discovery.Endpoint // host -> its endpoints
}

// sameList: a and b are the same list, not merely equal ones.
func sameList[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// SameServiceIdentities reports whether two meshes accept the same server
// identities for every service: when they differ, clusters change even if
// only endpoints did (a pod of a new service account joined a service).
func SameServiceIdentities(a, b *Mesh) bool {
	return sameIdentities(a.serviceIdentities(), b.serviceIdentities())
}

func sameIdentities(x, y map[string][]string) bool {
	if len(x) != len(y) {
		return false
	}
	for host, ids := range x {
		if !slices.Equal(ids, y[host]) {
			return false
		}
	}
	return true
}
