package inject

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/pilotlight/pilotlight/capture"
)

// Istio's capture annotations on a pod, and the init-capture flag each sets.
const (
	IncludeInboundPorts        = "traffic.sidecar.istio.io/includeInboundPorts"
	ExcludeInboundPorts        = "traffic.sidecar.istio.io/excludeInboundPorts"
	IncludeOutboundIPRanges    = "traffic.sidecar.istio.io/includeOutboundIPRanges"
	ExcludeOutboundIPRanges    = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
	IncludeOutboundPorts       = "traffic.sidecar.istio.io/includeOutboundPorts"
	ExcludeOutboundPorts       = "traffic.sidecar.istio.io/excludeOutboundPorts"
	InterceptionModeAnnotation = "sidecar.istio.io/interceptionMode"
)

// understood are the sidecar annotations the injector acts on; any other
// Istio sidecar annotation on a pod is named in a warning.
var understood = []string{InjectLabel, StatusAnnotation, IncludeInboundPorts, ExcludeInboundPorts,
	IncludeOutboundIPRanges, ExcludeOutboundIPRanges, IncludeOutboundPorts, ExcludeOutboundPorts, InterceptionModeAnnotation}

// captureArgs are the init container's flags: Istio's defaults, then what
// the pod's annotations say. Excluded inbound ports add to the sidecar's
// own (15021, 15090), as in Istio.
func captureArgs(annotations map[string]string) (args, warnings []string, err error) {
	c := captureDefaults
	inbound, outbound := c.InboundPorts.String(), c.OutboundRanges.String()
	excludeInbound := slices.Clone(c.ExcludeInboundPorts)
	var excludeRanges, includePorts, excludePorts string

	if v, ok := annotations[IncludeInboundPorts]; ok {
		p, err := capture.ParsePortsOrAll(v)
		if err != nil {
			return nil, nil, annotationError(IncludeInboundPorts, err)
		}
		inbound = p.String()
	}
	if v, ok := annotations[ExcludeInboundPorts]; ok {
		ports, err := capture.ParsePorts(v)
		if err != nil {
			return nil, nil, annotationError(ExcludeInboundPorts, err)
		}
		for _, p := range ports {
			if !slices.Contains(excludeInbound, p) {
				excludeInbound = append(excludeInbound, p)
			}
		}
	}
	for _, a := range []struct {
		name string
		into *string
	}{{IncludeOutboundPorts, &includePorts}, {ExcludeOutboundPorts, &excludePorts}} {
		if v, ok := annotations[a.name]; ok {
			ports, err := capture.ParsePorts(v)
			if err != nil {
				return nil, nil, annotationError(a.name, err)
			}
			*a.into = capture.JoinPorts(ports)
		}
	}
	if v, ok := annotations[IncludeOutboundIPRanges]; ok {
		r, v6, err := capture.ParseRangesOrAll(v)
		if err != nil {
			return nil, nil, annotationError(IncludeOutboundIPRanges, err)
		}
		outbound, warnings = r.String(), appendV6Warning(warnings, IncludeOutboundIPRanges, v6)
	}
	if v, ok := annotations[ExcludeOutboundIPRanges]; ok {
		r, v6, err := capture.ParseRanges(v)
		if err != nil {
			return nil, nil, annotationError(ExcludeOutboundIPRanges, err)
		}
		excludeRanges, warnings = capture.JoinPrefixes(r), appendV6Warning(warnings, ExcludeOutboundIPRanges, v6)
	}
	if v, ok := annotations[InterceptionModeAnnotation]; ok && v != "REDIRECT" {
		warnings = append(warnings, fmt.Sprintf("annotation %s=%q: only REDIRECT is implemented; REDIRECT used", InterceptionModeAnnotation, v))
	}
	warnings = append(warnings, unknownAnnotations(annotations)...)
	args = []string{
		"-p", fmt.Sprint(c.OutboundPort), "-z", fmt.Sprint(c.InboundPort),
		"-u", fmt.Sprint(ProxyUID), "-g", fmt.Sprint(ProxyGID),
		"-b", inbound, "-d", capture.JoinPorts(excludeInbound),
		"-i", outbound, "-x", excludeRanges,
		"-q", includePorts, "-o", excludePorts,
	}
	return args, warnings, nil
}

func annotationError(name string, err error) error {
	return fmt.Errorf("annotation %s: %w", name, err)
}

func appendV6Warning(warnings []string, name string, v6 []netip.Prefix) []string {
	if len(v6) == 0 {
		return warnings
	}
	return append(warnings, fmt.Sprintf("annotation %s: IPv6 ranges %s ignored: only IPv4 traffic is captured", name, capture.JoinPrefixes(v6)))
}

// unknownAnnotations names the Istio sidecar annotations the injector does
// not implement (sidecar.istio.io/proxyCPU, traffic.sidecar.istio.io/
// excludeInterfaces, ...), so that none is ignored silently.
func unknownAnnotations(annotations map[string]string) []string {
	var out []string
	for k := range annotations {
		istio := strings.HasPrefix(k, "sidecar.istio.io/") || strings.HasPrefix(k, "traffic.sidecar.istio.io/") || k == "proxy.istio.io/config"
		if istio && !slices.Contains(understood, k) {
			out = append(out, fmt.Sprintf("annotation %s is not implemented by pilotlight; ignored", k))
		}
	}
	sort.Strings(out)
	return out
}
