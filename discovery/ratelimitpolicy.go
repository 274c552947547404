package discovery

import (
	"net"
	"strconv"

	ratelimitv1alpha1 "github.com/pilotlight/pilotlight/api/ratelimit/v1alpha1"
)

// RateLimitPolicy is pilotlight's own rate-limit policy
// (ratelimit.pilotlight.io/v1alpha1; the types are in api/ratelimit).
type RateLimitPolicy struct {
	Meta
	Spec *ratelimitv1alpha1.RateLimitPolicySpec
}

// DefaultRateLimitService is where a global limit is counted when the
// policy names no service: the envoyproxy/ratelimit service that
// deploy/components/ratelimit installs next to pilotlight.
const DefaultRateLimitService = "ratelimit.pilotlight-system.svc.cluster.local:8081"

// RateLimitService is the "host:port" of the service that counts a
// policy's global limits, its host resolved as a Service name of the
// policy's namespace would be.
func (p *RateLimitPolicy) RateLimitService() (host string, port uint32, ok bool) {
	addr := p.Spec.GetGlobalService()
	if addr == "" {
		addr = DefaultRateLimitService
	}
	h, portText, err := net.SplitHostPort(addr)
	if err != nil || h == "" {
		return "", 0, false
	}
	n, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || n == 0 {
		return "", 0, false
	}
	return ResolveHost(h, p.Namespace), uint32(n), true
}

// Selects reports whether the policy's selector picks a pod: a pod of the
// policy's namespace whose labels hold every label of spec.selector (no
// selector: every pod there). A policy with targetRefs selects through its
// Gateways instead (see TargetsGateway).
func (p *RateLimitPolicy) Selects(pod *Pod) bool {
	if pod.Namespace != p.Namespace || len(p.Spec.TargetRefs) > 0 {
		return false
	}
	if p.Spec.Selector == nil {
		return true
	}
	return selects(p.Spec.Selector.MatchLabels, pod.Labels)
}

// TargetsGateway reports whether the policy's targetRefs name gw.
func (p *RateLimitPolicy) TargetsGateway(gw *Gateway) bool {
	if gw.Namespace != p.Namespace {
		return false
	}
	for _, ref := range p.Spec.TargetRefs {
		if ref.Kind == "Gateway" && ref.Name == gw.Name {
			return true
		}
	}
	return false
}

// RateLimitPoliciesFor are the policies the proxy of pod enforces on one
// HTTP listener, in namespace/name order: for a sidecar its inbound side
// on a target port, for a gateway (gateway true) a server port. A gateway
// enforces the policies that select its pod, and those whose targetRefs
// name a Gateway that selects the pod and has a server on port.
func (s *Snapshot) RateLimitPoliciesFor(pod *Pod, gateway bool, port uint32) []*RateLimitPolicy {
	var out []*RateLimitPolicy
	for _, p := range s.RateLimitPolicies {
		if p.Selects(pod) || (gateway && p.targetsServer(s.Gateways, pod, port)) {
			out = append(out, p)
		}
	}
	return out
}

// targetsServer: one of the policy's Gateways selects pod and serves port.
func (p *RateLimitPolicy) targetsServer(gateways []*Gateway, pod *Pod, port uint32) bool {
	for _, gw := range gateways {
		if !p.TargetsGateway(gw) || !selects(gw.Spec.GetSelector(), pod.Labels) {
			continue
		}
		for _, server := range gw.Spec.GetServers() {
			if server.GetPort().GetNumber() == port {
				return true
			}
		}
	}
	return false
}
