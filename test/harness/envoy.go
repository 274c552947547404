package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Helpers that read an Envoy's admin interface. admin is "host:port", e.g.
// "127.20.0.1:15000".

func adminURL(admin, path string) string { return "http://" + admin + path }

// EnvoyConfigDump returns the admin /config_dump JSON, endpoints included.
func EnvoyConfigDump(admin string) ([]byte, error) {
	return GetBody(adminURL(admin, "/config_dump?include_eds"))
}

// EnvoyStats returns the counters and gauges of the admin /stats page
// (histograms are left out). filter, when not empty, is Envoy's regular
// expression on stat names.
func EnvoyStats(admin, filter string) (map[string]uint64, error) {
	path := "/stats"
	if filter != "" {
		path += "?filter=" + url.QueryEscape(filter)
	}
	body, err := GetBody(adminURL(admin, path))
	if err != nil {
		return nil, err
	}
	return ParseStats(body), nil
}

// ParseStats parses Envoy's plain-text /stats ("name: value" lines),
// keeping the lines whose value is an unsigned integer.
func ParseStats(body []byte) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndex(line, ": ")
		if i < 0 {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(line[i+2:]), 10, 64)
		if err != nil {
			continue // histogram summaries and the like
		}
		out[line[:i]] = v
	}
	return out
}

// NackCounters returns every "*.update_rejected" counter of an Envoy:
// cluster_manager.cds, listener_manager.lds, http.<prefix>.rds.<route>
// and cluster.<name> (EDS), among others.
func NackCounters(admin string) (map[string]uint64, error) {
	stats, err := EnvoyStats(admin, `update_rejected$`)
	if err != nil {
		return nil, err
	}
	return nackCounters(stats), nil
}

func nackCounters(stats map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range stats {
		if strings.HasSuffix(k, ".update_rejected") {
			out[k] = v
		}
	}
	return out
}

// NackCount is the sum of an Envoy's update_rejected counters: how many
// xDS updates it refused.
func NackCount(admin string) (uint64, error) {
	c, err := NackCounters(admin)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range c {
		n += v
	}
	return n, nil
}

// FormatNonZero lists the non-zero counters of m, sorted, for messages.
func FormatNonZero(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// ClusterStatus is one cluster of the admin /clusters?format=json page.
type ClusterStatus struct {
	Name         string `json:"name"`
	HostStatuses []struct {
		Address struct {
			SocketAddress struct {
				Address   string `json:"address"`
				PortValue int    `json:"port_value"`
			} `json:"socket_address"`
		} `json:"address"`
		HealthStatus map[string]any `json:"health_status"`
	} `json:"host_statuses"`
}

// Hosts lists the cluster's hosts as "ip:port".
func (c ClusterStatus) Hosts() []string {
	var out []string
	for _, h := range c.HostStatuses {
		sa := h.Address.SocketAddress
		out = append(out, fmt.Sprintf("%s:%d", sa.Address, sa.PortValue))
	}
	return out
}

// EnvoyClusters returns the clusters an Envoy knows, by name.
func EnvoyClusters(admin string) (map[string]ClusterStatus, error) {
	var page struct {
		ClusterStatuses []ClusterStatus `json:"cluster_statuses"`
	}
	if err := GetJSON(adminURL(admin, "/clusters?format=json"), &page); err != nil {
		return nil, err
	}
	out := make(map[string]ClusterStatus, len(page.ClusterStatuses))
	for _, c := range page.ClusterStatuses {
		out[c.Name] = c
	}
	return out, nil
}

// WaitForCluster waits until the Envoy has cluster name with at least one
// host (for an EDS cluster: its endpoints have arrived), and returns it.
func WaitForCluster(admin, name string, timeout time.Duration) (ClusterStatus, error) {
	var got ClusterStatus
	err := Eventually(timeout, 50*time.Millisecond, func() error {
		cs, err := EnvoyClusters(admin)
		if err != nil {
			return err
		}
		c, ok := cs[name]
		if !ok {
			names := make([]string, 0, len(cs))
			for n := range cs {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("envoy %s has no cluster %q (has %q)", admin, name, names)
		}
		if len(c.HostStatuses) == 0 {
			return fmt.Errorf("envoy %s: cluster %q has no hosts", admin, name)
		}
		got = c
		return nil
	})
	return got, err
}

// WaitEnvoyReady waits until the Envoy's admin /ready answers 200 (server
// state LIVE: its initial xDS fetches are done or timed out).
func WaitEnvoyReady(admin string, timeout time.Duration) error {
	return WaitHTTP(adminURL(admin, "/ready"), timeout)
}

// EnvoyStat returns one counter or gauge (0 when absent).
func EnvoyStat(admin, name string) (uint64, error) {
	stats, err := EnvoyStats(admin, "^"+regexp.QuoteMeta(name)+"$")
	if err != nil {
		return 0, err
	}
	return stats[name], nil
}

// WaitEnvoyAccepted waits until an Envoy is LIVE (admin /ready) and has
// accepted clusters and listeners; a rejection, or the process exiting,
// ends the wait at once.
func WaitEnvoyAccepted(envoy *Process, admin string, timeout time.Duration) error {
	return Eventually(timeout, 50*time.Millisecond, func() error {
		if err := envoy.CheckRunning(); err != nil {
			return Permanent(err)
		}
		if err := checkHTTP(adminURL(admin, "/ready")); err != nil {
			return err
		}
		stats, err := EnvoyStats(admin, `^(cluster_manager\.cds|listener_manager\.lds)\.update_(success|rejected)$`)
		if err != nil {
			return err
		}
		if n := stats["cluster_manager.cds.update_rejected"] + stats["listener_manager.lds.update_rejected"]; n > 0 {
			return Permanent(fmt.Errorf("it rejected config: %s", FormatNonZero(stats)))
		}
		if stats["cluster_manager.cds.update_success"] == 0 || stats["listener_manager.lds.update_success"] == 0 {
			return fmt.Errorf("no clusters and listeners accepted from pilotlight yet: %v", stats)
		}
		return nil
	})
}
