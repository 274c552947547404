package xds

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the control plane, named as Prometheus expects (units in names).
type metrics struct {
	connected      prometheus.Gauge
	pushes         *prometheus.CounterVec
	nacks          *prometheus.CounterVec
	pushDuration   *prometheus.HistogramVec
	translateTime  prometheus.Histogram
	configProblems prometheus.Gauge
	limitHits      *prometheus.CounterVec
	notServed      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pilotlight_xds_connected_proxies", Help: "Envoy proxies with an open ADS stream.",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_pushes_total", Help: "xDS responses sent, by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_nacks_total", Help: "xDS responses rejected by a proxy, by resource type.",
		}, []string{"type"}),
		pushDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pilotlight_xds_push_duration_seconds", Help: "Time to recompute and hand out every proxy's view after a mesh change.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"kind"}),
		translateTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pilotlight_translate_duration_seconds", Help: "Time to translate and marshal one proxy's view.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		configProblems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pilotlight_config_problems", Help: "Config objects or fields skipped as invalid in the current snapshot.",
		}),
		limitHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_limit_hits_total", Help: "xDS streams refused or closed because the client went over a limit (Limits), by limit.",
		}, []string{"limit"}),
		notServed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pilotlight_xds_resources_not_served", Help: "Generated resources that failed their checks in the current snapshot; proxies keep their previous versions.",
		}),
	}
	for _, l := range limitNames {
		m.limitHits.WithLabelValues(l) // every limit shows, at 0, before it is hit
	}
	reg.MustRegister(m.connected, m.pushes, m.nacks, m.pushDuration, m.translateTime, m.configProblems, m.limitHits, m.notServed)
	return m
}

// typeLabel turns a type URL into its short name: cds, eds, lds, rds, sds.
func typeLabel(typeURL string) string {
	switch {
	case strings.HasSuffix(typeURL, ".Cluster"):
		return "cds"
	case strings.HasSuffix(typeURL, ".ClusterLoadAssignment"):
		return "eds"
	case strings.HasSuffix(typeURL, ".Listener"):
		return "lds"
	case strings.HasSuffix(typeURL, ".RouteConfiguration"):
		return "rds"
	case strings.HasSuffix(typeURL, ".Secret"):
		return "sds"
	}
	return "other"
}
