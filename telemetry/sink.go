package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	accesslogdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/translate"
)

// Sink is the gRPC access log service Envoy streams to. It keeps no
// entries: each one becomes increments of Istio's metrics, registered in
// the registry pilotlight serves at /metrics.
type Sink struct {
	accesslogsvc.UnimplementedAccessLogServiceServer
	log     *slog.Logger
	metrics *requestMetrics
	index   indexCache
	graph   *graph
}

// NewSink builds a Sink that attributes entries with the snapshot that
// snapshot returns at the time (the one being served).
func NewSink(reg prometheus.Registerer, snapshot func() *discovery.Snapshot, log *slog.Logger) *Sink {
	return &Sink{log: log, metrics: newRequestMetrics(reg), index: indexCache{current: snapshot}, graph: newGraph(time.Now)}
}

// Graph is the mesh graph of the last minute (graph.go).
func (s *Sink) Graph() []EdgeStats { return s.graph.Edges() }

// Register adds the access log service to a gRPC server.
func (s *Sink) Register(g *grpc.Server) { accesslogsvc.RegisterAccessLogServiceServer(g, s) }

// StreamAccessLogs reads one proxy's stream. Envoy names itself (node) and
// the log (its reporter side) in the first message only.
func (s *Sink) StreamAccessLogs(stream grpc.ClientStreamingServer[accesslogsvc.StreamAccessLogsMessage, accesslogsvc.StreamAccessLogsResponse]) error {
	var from streamOrigin
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&accesslogsvc.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		if id := msg.GetIdentifier(); id != nil {
			if from, err = originOf(id); err != nil {
				return err
			}
			if err := s.prove(stream.Context(), from); err != nil {
				s.metrics.dropped.WithLabelValues("unproven_peer").Inc()
				return err
			}
		}
		if from.nodeID == "" {
			return fmt.Errorf("access log stream: the first message has no identifier")
		}
		s.record(from, msg)
	}
}

// prove checks that the stream comes from the pod it names: its
// connection's address is the pod's IP. A proxy's upstream connections
// leave from its pod IP (in local mode the bootstrap binds it), so another
// pod cannot pass for it and skew its metrics. The stream carries no token:
// it reports, it is sent nothing.
func (s *Sink) prove(ctx context.Context, from streamOrigin) error {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return status.Error(codes.PermissionDenied, "access log stream: no peer address")
	}
	return proveAddress(s.index.get(), from, p.Addr)
}

func proveAddress(ix *meshIndex, from streamOrigin, addr net.Addr) error {
	if ix == nil {
		return status.Error(codes.Unavailable, "access log stream: no mesh snapshot yet")
	}
	pod := ix.snap.Pod(from.proxy.Namespace, from.proxy.PodName)
	ap, err := netip.ParseAddrPort(addr.String())
	if pod == nil || err != nil || ap.Addr().Unmap().String() != pod.IP {
		return status.Errorf(codes.PermissionDenied, "access log stream from %s does not come from pod %s/%s's address",
			addr, from.proxy.Namespace, from.proxy.PodName)
	}
	return nil
}

// streamOrigin is who sends a stream: the proxy, and which side it logs.
type streamOrigin struct {
	nodeID  string
	proxy   translate.Proxy
	logName string
}

func originOf(id *accesslogsvc.StreamAccessLogsMessage_Identifier) (streamOrigin, error) {
	nodeID := id.GetNode().GetId()
	p, err := translate.ParseNodeID(nodeID)
	if err != nil {
		return streamOrigin{}, fmt.Errorf("access log stream: %w", err)
	}
	switch id.GetLogName() {
	case translate.AccessLogSource, translate.AccessLogDestination:
	default:
		return streamOrigin{}, fmt.Errorf("access log stream of %s: unknown log %q", nodeID, id.GetLogName())
	}
	return streamOrigin{nodeID: nodeID, proxy: p, logName: id.GetLogName()}, nil
}

func (s *Sink) record(from streamOrigin, msg *accesslogsvc.StreamAccessLogsMessage) {
	ix := s.index.get()
	var self *discovery.Pod
	if ix != nil {
		self = ix.snap.Pod(from.proxy.Namespace, from.proxy.PodName)
	}
	if self == nil {
		n := len(msg.GetHttpLogs().GetLogEntry()) + len(msg.GetTcpLogs().GetLogEntry())
		s.metrics.dropped.WithLabelValues("unknown_proxy").Add(float64(n))
		return
	}
	for _, e := range msg.GetHttpLogs().GetLogEntry() {
		s.recordHTTP(ix, self, from.logName, e)
	}
	for _, e := range msg.GetTcpLogs().GetLogEntry() {
		s.recordTCP(ix, self, from.logName, e)
	}
}

func (s *Sink) recordHTTP(ix *meshIndex, self *discovery.Pod, logName string, e *accesslogdata.HTTPAccessLogEntry) {
	c := e.GetCommonProperties()
	a := attribute(ix, self, logName, c, e.GetRequest().GetAuthority())
	protocol := requestProtocol(e.GetRequest())
	labels := append(a.values(protocol),
		responseCode(e.GetResponse().GetResponseCode().GetValue()), grpcStatus(protocol, e.GetResponse()), responseFlags(c.GetResponseFlags()), a.securityPolicy)
	s.metrics.requests.WithLabelValues(labels...).Inc()
	s.metrics.duration.WithLabelValues(labels...).Observe(durationMillis(c))
	req, resp := e.GetRequest(), e.GetResponse()
	s.metrics.requestBytes.WithLabelValues(labels...).Observe(float64(req.GetRequestHeadersBytes() + req.GetRequestBodyBytes()))
	s.metrics.responseBytes.WithLabelValues(labels...).Observe(float64(resp.GetResponseHeadersBytes() + resp.GetResponseBodyBytes()))
	code := e.GetResponse().GetResponseCode().GetValue()
	s.observeEdge(a, protocol, code == 0 || code >= 500, durationMillis(c))
}

// observeEdge counts a request on the graph once: by the client's proxy,
// or by the server's when the client has none. The server's side is also
// the one that knows whether the connection was mutual TLS.
func (s *Sink) observeEdge(a attribution, protocol string, failed bool, millis float64) {
	k := EdgeKey{
		SourceWorkload:      workloadKey(a.source),
		Service:             unknown,
		DestinationWorkload: workloadKey(a.destination),
	}
	if a.service != nil {
		k.Service = a.service.Hostname
	}
	mtls := a.securityPolicy == "mutual_tls"
	switch {
	case a.reporter == "source":
		s.graph.observe(k, protocol, failed, millis, false)
	case a.source.workload == unknown:
		s.graph.observe(k, protocol, failed, millis, mtls)
	case mtls:
		s.graph.markMutualTLS(k)
	}
}

func workloadKey(p peer) string {
	if p.workload == unknown {
		return unknown
	}
	return p.namespace + "/" + p.workload
}

func (s *Sink) recordTCP(ix *meshIndex, self *discovery.Pod, logName string, e *accesslogdata.TCPAccessLogEntry) {
	c := e.GetCommonProperties()
	a := attribute(ix, self, logName, c, "")
	labels := append(a.values("tcp"), responseFlags(c.GetResponseFlags()), a.securityPolicy)
	props := e.GetConnectionProperties()
	s.metrics.tcpSent.WithLabelValues(labels...).Add(float64(props.GetSentBytes()))
	s.metrics.tcpReceived.WithLabelValues(labels...).Add(float64(props.GetReceivedBytes()))
	if !c.GetIntermediateLogEntry() {
		s.metrics.tcpClosed.WithLabelValues(labels...).Inc()
		s.observeEdge(a, "tcp", c.GetResponseFlags() != nil && responseFlags(c.GetResponseFlags()) != "-", durationMillis(c))
	}
}

// durationMillis is the request's time from its first byte in to its last
// byte out.
func durationMillis(c *accesslogdata.AccessLogCommon) float64 {
	d := c.GetDuration()
	if d == nil {
		d = c.GetTimeToLastDownstreamTxByte()
	}
	return float64(d.AsDuration().Microseconds()) / 1000
}
