package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Istio's standard metrics (istio.io/latest/docs/reference/config/metrics),
// with its label names and buckets.

// requestLabels are the labels of the HTTP metrics, in Istio's order;
// tcpLabels those of the TCP ones (no response_code).
var (
	peerLabels = []string{
		"reporter",
		"source_workload", "source_workload_namespace", "source_principal", "source_app", "source_version",
		"source_canonical_service", "source_canonical_revision", "source_cluster",
		"destination_workload", "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
		"destination_service", "destination_service_name", "destination_service_namespace",
		"destination_canonical_service", "destination_canonical_revision", "destination_cluster",
		"request_protocol",
	}
	requestLabels = append(append([]string{}, peerLabels...), "response_code", "grpc_response_status", "response_flags", "connection_security_policy")
	tcpLabels     = append(append([]string{}, peerLabels...), "response_flags", "connection_security_policy")
)

// Istio's buckets: milliseconds, and bytes by powers of ten.
var (
	durationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}
	sizeBuckets     = prometheus.ExponentialBuckets(1, 10, 10)
)

type requestMetrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	requestBytes  *prometheus.HistogramVec
	responseBytes *prometheus.HistogramVec
	tcpSent       *prometheus.CounterVec
	tcpReceived   *prometheus.CounterVec
	tcpClosed     *prometheus.CounterVec
	// dropped counts entries that could not be attributed (unknown proxy).
	dropped *prometheus.CounterVec
}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	m := &requestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "istio_requests_total", Help: "Requests, by source and destination workload and response, from proxies' access logs.",
		}, requestLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "istio_request_duration_milliseconds", Help: "Request duration in milliseconds.", Buckets: durationBuckets,
		}, requestLabels),
		requestBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "istio_request_bytes", Help: "Request size (headers and body) in bytes.", Buckets: sizeBuckets,
		}, requestLabels),
		responseBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "istio_response_bytes", Help: "Response size (headers and body) in bytes.", Buckets: sizeBuckets,
		}, requestLabels),
		tcpSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "istio_tcp_sent_bytes_total", Help: "Bytes sent back to the client (the response side) of TCP connections.",
		}, tcpLabels),
		tcpReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "istio_tcp_received_bytes_total", Help: "Bytes received from the client (the request side) of TCP connections.",
		}, tcpLabels),
		tcpClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "istio_tcp_connections_closed_total", Help: "TCP connections closed.",
		}, tcpLabels),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_accesslog_entries_dropped_total", Help: "Access log entries not turned into metrics, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.requests, m.duration, m.requestBytes, m.responseBytes, m.tcpSent, m.tcpReceived, m.tcpClosed, m.dropped)
	return m
}
