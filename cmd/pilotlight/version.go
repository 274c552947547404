package main

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set at link time for releases:
//
//	go build -ldflags "-X main.version=v0.3.0" ./cmd/pilotlight
var version = ""

// buildVersion is the version of this binary: the one set at link time,
// else the module version Go recorded, else "devel" with the commit it was
// built from ("devel+38998ca1b2c3", "-dirty" for uncommitted changes).
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	v := "devel"
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += "+" + s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		v += "-dirty"
	}
	return v
}

// buildInfo is the pilotlight_build_info metric: always 1, with the
// version in its labels, as Prometheus' own build_info metrics are.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "pilotlight_build_info",
		Help:        "The version of pilotlight that is running (always 1).",
		ConstLabels: prometheus.Labels{"version": buildVersion(), "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}
