package discovery

import (
	"fmt"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1"
)

// ValidateSidecar checks one Sidecar as Istio's validation does, and
// reports what pilotlight does not implement: ingress listeners, an egress
// listener's bind address or capture mode, outboundTrafficPolicy and
// inboundConnectionPool. A Sidecar with a problem is not served as a whole
// (its proxies then reach what they would without it): scoping half of
// what the user wrote would cut off services they meant to reach.
func ValidateSidecar(sc *Sidecar) []Problem {
	p := newProblemList("Sidecar", sc.Meta)
	spec := sc.Spec
	if spec == nil {
		return nil
	}
	if sel := spec.GetWorkloadSelector(); sel != nil && len(sel.GetLabels()) == 0 {
		p.add("spec.workloadSelector.labels", "a workloadSelector needs labels (omit it to apply to the whole namespace)")
	}
	for i := range spec.GetIngress() {
		p.add(fieldIndex("spec.ingress", i), "ingress listeners are not supported: the inbound side follows the pod's Services")
	}
	if spec.GetOutboundTrafficPolicy() != nil {
		p.add("spec.outboundTrafficPolicy", "a per-Sidecar outboundTrafficPolicy is not supported: set it mesh-wide (--mesh-config outboundTrafficPolicy)")
	}
	if spec.GetInboundConnectionPool() != nil {
		p.add("spec.inboundConnectionPool", "inboundConnectionPool is not supported")
	}
	catchAll := 0
	for i, e := range spec.GetEgress() {
		checkEgress(p, fieldIndex("spec.egress", i), e)
		if e.GetPort() == nil {
			catchAll++
		}
	}
	if catchAll > 1 {
		p.add("spec.egress", "%d egress listeners have no port: at most one may (Istio's rule)", catchAll)
	}
	return p.list
}

func checkEgress(p *problemList, path string, e *networking.IstioEgressListener) {
	if port := e.GetPort(); port != nil && (port.GetNumber() == 0 || port.GetNumber() > 65535) {
		p.add(path+".port.number", "port %d is not in 1..65535", port.GetNumber())
	}
	if e.GetBind() != "" {
		p.add(path+".bind", "bind is not supported: a sidecar's outbound listeners are where its mode puts them")
	}
	if e.GetCaptureMode() != networking.CaptureMode_DEFAULT {
		p.add(path+".captureMode", "captureMode %s is not supported", e.GetCaptureMode())
	}
	if len(e.GetHosts()) == 0 {
		p.add(path+".hosts", "an egress listener needs hosts (namespace/dnsName)")
	}
	for i, h := range e.GetHosts() {
		if why := sidecarHostProblem(h); why != "" {
			p.add(fieldIndex(path+".hosts", i), "%q: %s", h, why)
		}
	}
}

// sidecarHostProblem says what is wrong with an egress host, or "".
func sidecarHostProblem(h string) string {
	host, ok := ParseSidecarHost(h)
	switch {
	case !ok:
		return `want namespace/dnsName: "./*" (this namespace), "*/*", "NS/*", "NS/name.NS.svc.cluster.local", "~/*" (none)`
	case host.Namespace == "":
		return "the namespace part is empty"
	case host.Namespace != "*" && host.Namespace != "." && host.Namespace != "~" && !dnsLabel.MatchString(host.Namespace):
		return fmt.Sprintf("namespace %q is not a namespace name, *, . or ~", host.Namespace)
	case host.Host == "":
		return "the dnsName part is empty"
	case host.Host == "*":
		return ""
	case strings.Contains(host.Host, "/"):
		return "more than one /"
	case !dnsName.MatchString(host.Host):
		return fmt.Sprintf("%q is not a DNS name (or *, or *.suffix)", host.Host)
	}
	return ""
}

// CheckSidecarSelection reports Sidecars that never apply because another
// one wins for the same workloads: two without a workloadSelector in one
// namespace (Istio: "undefined"; the oldest applies, here as there).
func CheckSidecarSelection(s *Snapshot) []Problem {
	var out []Problem
	defaults := map[string]*Sidecar{}
	sorted := slices.Clone(s.Sidecars)
	SortByKey(sorted) // as SidecarFor sees them
	for _, sc := range sorted {
		if len(sc.Spec.GetWorkloadSelector().GetLabels()) > 0 {
			continue
		}
		first := defaults[sc.Namespace]
		if first == nil {
			defaults[sc.Namespace] = sc
			continue
		}
		winner, loser := older(first, sc), sc
		if winner == sc {
			loser = first
		}
		defaults[sc.Namespace] = winner
		p := newProblemList("Sidecar", loser.Meta)
		p.add("spec.workloadSelector", "namespace %s has another Sidecar without a workloadSelector, %s, which applies instead (the oldest does)", sc.Namespace, winner.Name)
		out = append(out, p.list...)
	}
	return out
}
