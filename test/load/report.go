package load

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// TableHeader is the header of the markdown table Row writes.
const TableHeader = `| point | cold sync p50 / p99 / all | CPU-s, cold sync | MB per proxy, cold sync | idle RSS | RSS per proxy above idle | peak RSS | endpoint change p50 / p99 / max | CPU-s per endpoint change | bytes (CLAs) per proxy per endpoint change | route change p50 / p99 / max | CPU-s per route change | bytes per proxy per route change |
|---|---|---|---|---|---|---|---|---|---|---|---|---|`

// Row is the result as a row of the table.
func (r *Result) Row() string {
	return fmt.Sprintf("| %s | %s / %s / %s | %.2f | %.2f | %s | %s | %s | %s / %s / %s | %.3f | %.0f (%.1f) | %s / %s / %s | %.3f | %.0f |",
		r.Point, dur(r.ColdSyncP50), dur(r.ColdSyncP99), dur(r.ColdSync), r.ColdSyncCPU.Seconds(), r.ColdSyncBytes/1e6,
		mib(float64(r.IdleRSS)), kib(r.RSSPerProxy()), mib(float64(r.PeakRSS)),
		dur(r.Endpoint.P50), dur(r.Endpoint.P99), dur(r.Endpoint.Max), r.Endpoint.CPU.Seconds(),
		r.Endpoint.BytesPerProxy, r.Endpoint.ResourcesPerProxy,
		dur(r.Route.P50), dur(r.Route.P99), dur(r.Route.Max), r.Route.CPU.Seconds(), r.Route.BytesPerProxy)
}

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%.0f KiB", b/(1<<10)) }

// Conditions describes the machine and the moment: CPU, cores, memory,
// load average, and the commit measured.
func Conditions() string {
	return fmt.Sprintf("commit %s; %s, %d cores, %s RAM; load average %s; %s",
		commit(), cpuModel(), runtime.NumCPU(), memTotal(), loadAvg(), time.Now().UTC().Format(time.RFC3339))
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if err := exec.Command("git", "diff", "--quiet", "HEAD", "--", ".").Run(); err != nil {
		c += " (with uncommitted changes)"
	}
	return c
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return fmt.Sprintf("%.0f GiB", kb/(1<<20))
		}
	}
	return "?"
}

// LoadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
