package discovery

import (
	"sort"
	"strconv"

	security "istio.io/api/security/v1beta1"
)

// ValidatePeerAuthentication checks one PeerAuthentication as Istio's
// webhook and CRD schema do. A policy with a problem is skipped as a whole:
// half of a security policy is never served.
func ValidatePeerAuthentication(pa *PeerAuthentication) []Problem {
	p := newProblemList("PeerAuthentication", pa.Meta)
	spec := pa.Spec
	if spec == nil {
		return nil // no spec: mode UNSET, inherited from the namespace or mesh
	}
	checkMTLSMode(p, "spec.mtls.mode", spec.GetMtls())
	if len(spec.GetPortLevelMtls()) > 0 && len(spec.GetSelector().GetMatchLabels()) == 0 {
		// Istio's CRD: "portLevelMtls requires selector". Ports are a
		// workload's, so a namespace or mesh policy cannot name them.
		p.add("spec.portLevelMtls", "portLevelMtls needs a workload selector (spec.selector.matchLabels): ports are a workload's target ports")
	}
	for _, port := range sortedPorts(spec.GetPortLevelMtls()) {
		path := fieldKey("spec.portLevelMtls", strconv.FormatUint(uint64(port), 10))
		if port == 0 || port > 65535 {
			p.add(path, "port %d is not in 1..65535", port)
		}
		if spec.GetPortLevelMtls()[port] == nil {
			p.add(path, "a port needs mtls settings (mode)")
			continue
		}
		checkMTLSMode(p, path+".mode", spec.GetPortLevelMtls()[port])
	}
	return p.list
}

func checkMTLSMode(p *problemList, path string, m *security.PeerAuthentication_MutualTLS) {
	if _, known := security.PeerAuthentication_MutualTLS_Mode_name[int32(m.GetMode())]; !known {
		p.add(path, "unknown mode %d: want UNSET, DISABLE, PERMISSIVE or STRICT", m.GetMode())
	}
}

// CheckPeerAuthenticationSelectors reports the workload policies whose
// selector matches no pod at all. They are kept (a pod may come), but a
// selector that matches nothing is usually a typo that leaves the workload
// on its namespace's mode. (A policy in the root namespace selects pods of
// every namespace, so only a selector that no pod anywhere matches is
// reported, whichever namespace is the root.)
func CheckPeerAuthenticationSelectors(s *Snapshot) []Problem {
	var out []Problem
	for _, pa := range s.PeerAuthentications {
		sel := pa.Spec.GetSelector().GetMatchLabels()
		if len(sel) == 0 || selectsAnyPod(s.Pods, sel) {
			continue
		}
		p := newProblemList("PeerAuthentication", pa.Meta)
		p.add("spec.selector.matchLabels", "selects no pod: the policy applies to nothing until one appears")
		out = append(out, p.list...)
	}
	return out
}

func selectsAnyPod(pods []*Pod, selector map[string]string) bool {
	for _, pod := range pods {
		if selects(selector, pod.Labels) {
			return true
		}
	}
	return false
}

func sortedPorts(m map[uint32]*security.PeerAuthentication_MutualTLS) []uint32 {
	out := make([]uint32, 0, len(m))
	for port := range m {
		out = append(out, port)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
