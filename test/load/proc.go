package load

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pilotlight/pilotlight/test/harness"
)

// process reads what the kernel counts for the server process: CPU time
// (user + system) and resident memory, now and at its peak.
type process struct{ pid int }

// clockTicks is USER_HZ, the unit of CPU times in /proc (100 on Linux).
const clockTicks = 100

// cpu is the CPU time the process has used so far.
func (p process) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from after its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", p.pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state): utime is field 14, stime 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", p.pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: cpu times %q %q", p.pid, fields[11], fields[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// memory is the resident set now (VmRSS) and its peak (VmHWM), in bytes.
func (p process) memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %v", p.pid, key, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak, sc.Err()
}

// resetPeak starts VmHWM over from the current resident set
// (clear_refs 5), so that a phase's peak is its own.
func (p process) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid), []byte("5"), 0)
}

// quiet waits until the process has used at most 10 ms of CPU in each of
// three consecutive 100 ms intervals (its work is done), or until timeout.
func (p process) quiet(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last, err := p.cpu()
	if err != nil {
		return err
	}
	calm := 0
	for calm < 3 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the server was still busy after %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
		now, err := p.cpu()
		if err != nil {
			return err
		}
		if now-last <= 10*time.Millisecond {
			calm++
		} else {
			calm = 0
		}
		last = now
	}
	return nil
}

// pushKinds reads how many snapshots the server applied, by kind (full,
// endpoints), from its /metrics (pilotlight_xds_push_duration_seconds).
func pushKinds(srv *server) string {
	body, err := harness.GetBody("http://" + srv.httpAddr + "/metrics")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "pilotlight_xds_push_duration_seconds_count{kind=\""); ok {
			kind, n, _ := strings.Cut(rest, "\"} ")
			out = append(out, kind+"="+n)
		}
	}
	return strings.Join(out, " ")
}
