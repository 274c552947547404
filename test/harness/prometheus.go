package harness

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Series is one Prometheus sample: its labels and value (a counter's or
// gauge's value; a histogram's sample count).
type Series struct {
	Labels map[string]string
	Value  float64
}

func (s Series) String() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, s.Labels[k]))
	}
	return fmt.Sprintf("{%s} %g", strings.Join(parts, ","), s.Value)
}

// Metrics is a parsed Prometheus text exposition, by metric name.
type Metrics map[string]*dto.MetricFamily

// ScrapeMetrics GETs a Prometheus text endpoint and parses it.
func ScrapeMetrics(rawURL string) (Metrics, error) {
	body, err := GetBody(rawURL)
	if err != nil {
		return nil, err
	}
	return ParseMetrics(body)
}

// ParseMetrics parses the Prometheus text format.
func ParseMetrics(body []byte) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	return Metrics(fams), err
}

// Select returns the series of metric name whose labels include all of
// match (as a PromQL selector with = matchers would).
func (m Metrics) Select(name string, match map[string]string) []Series {
	fam := m[name]
	if fam == nil {
		return nil
	}
	var out []Series
	for _, metric := range fam.Metric {
		labels := map[string]string{}
		for _, l := range metric.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if !hasAll(labels, match) {
			continue
		}
		out = append(out, Series{Labels: labels, Value: sampleValue(metric)})
	}
	return out
}

// Sum adds up the values of Select(name, match).
func (m Metrics) Sum(name string, match map[string]string) float64 {
	var sum float64
	for _, s := range m.Select(name, match) {
		sum += s.Value
	}
	return sum
}

func hasAll(labels, match map[string]string) bool {
	for k, v := range match {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// StatsPort is the sidecar's Prometheus stats port (Istio's 15090).
const StatsPort = 15090

// StatsURL is the Prometheus stats page of the proxy whose local address
// is local: local:15090/stats/prometheus.
func StatsURL(local string) string {
	return fmt.Sprintf("http://%s:%d/stats/prometheus", local, StatsPort)
}
