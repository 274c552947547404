package main

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/translate"
)

// statsFlags are bootstrap's flags for the proxy's Prometheus stats.
type statsFlags struct {
	port     int
	workload string
}

func (s *statsFlags) addTo(cmd *cobra.Command) {
	cmd.Flags().IntVar(&s.port, "stats-port", translate.StatsPort, "port of the Prometheus stats listener (only /stats/prometheus): on --local-address in local mode, else on every address; 0 for none")
	cmd.Flags().StringVar(&s.workload, "workload", "", "the pod's workload, its source_workload in stats (default: the pod name)")
}

// addr is where the stats listener binds: in local mode the pod's local
// address, in a pod every address (as Istio's 0.0.0.0:15090), so that
// Prometheus reaches it from outside the pod.
func (s statsFlags) addr(localAddress string) string {
	if s.port == 0 {
		return ""
	}
	if localAddress == "" {
		localAddress = "0.0.0.0"
	}
	return net.JoinHostPort(localAddress, strconv.Itoa(s.port))
}

// localModeSource is the source address of upstream connections: the pod
// IP in local mode (a --local-address was given) when it is a loopback
// address this machine has, none in a real pod (where the kernel picks the
// pod IP anyway) or when the pod IP is only data (a cluster's 10.x pods
// whose sidecars run on the host).
func localModeSource(localAddress, podIP string) string {
	ip, err := netip.ParseAddr(podIP)
	if localAddress == "" || err != nil || !ip.IsLoopback() {
		return ""
	}
	return podIP
}
