// Package telemetry turns the access logs that Envoy proxies stream to
// pilotlight (Envoy's gRPC access log service, envoy.service.accesslog.v3)
// into Istio's standard request metrics: istio_requests_total and friends,
// with Istio's label names, so that Istio's dashboards, Kiali and the
// tutorials' PromQL work with upstream Envoy, which has no Istio stats
// filter. Peers are told apart by their addresses, mapped to pods and
// services through the current mesh snapshot: no metadata exchange between
// proxies is needed.
package telemetry

import (
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/pilotlight/pilotlight/discovery"
)

// meshIndex looks up pods by IP and services by host name, for one snapshot.
type meshIndex struct {
	snap     *discovery.Snapshot
	podsByIP map[netip.Addr]*discovery.Pod
}

func newMeshIndex(snap *discovery.Snapshot) *meshIndex {
	ix := &meshIndex{snap: snap, podsByIP: make(map[netip.Addr]*discovery.Pod, len(snap.Pods))}
	for _, p := range snap.Pods {
		if a, err := netip.ParseAddr(p.IP); err == nil {
			ix.podsByIP[a] = p
		}
	}
	return ix
}

// indexCache keeps the index of the latest snapshot; it is rebuilt when
// the snapshot changes, on the first entry that needs it.
type indexCache struct {
	current  func() *discovery.Snapshot
	built    atomic.Pointer[meshIndex]
	rebuilds atomic.Int64
}

func (c *indexCache) get() *meshIndex {
	snap := c.current()
	if snap == nil {
		return nil
	}
	if ix := c.built.Load(); ix != nil && ix.snap == snap {
		return ix
	}
	ix := newMeshIndex(snap)
	c.built.Store(ix)
	c.rebuilds.Add(1)
	return ix
}

func (ix *meshIndex) podAt(addr netip.Addr) *discovery.Pod {
	if !addr.IsValid() {
		return nil
	}
	return ix.podsByIP[addr.Unmap()]
}

// serviceOfCluster reads the service of an Istio-named cluster,
// outbound|PORT|SUBSET|HOST.
func (ix *meshIndex) serviceOfCluster(name string) *discovery.Service {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return nil
	}
	return ix.snap.ServiceByHost(parts[3])
}

// serviceOfAuthority resolves a Host header as the mesh resolves names from
// namespace: the FQDN, name.namespace(.svc), or a short name.
func (ix *meshIndex) serviceOfAuthority(authority, namespace string) *discovery.Service {
	host := authority
	if i := strings.LastIndexByte(host, ':'); i > 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return nil
	}
	if svc := ix.snap.ServiceByHost(host); svc != nil {
		return svc
	}
	host = strings.TrimSuffix(host, ".svc")
	if !strings.Contains(host, ".") {
		host += "." + namespace
	}
	return ix.snap.ServiceByHost(host + ".svc." + discovery.DefaultDomainSuffix)
}

// serviceOfPod is the service that sends to pod on port, when exactly one
// does: the inbound side of a TCP connection has no Host to go by.
func (ix *meshIndex) serviceOfPod(pod *discovery.Pod, port uint32) *discovery.Service {
	var found *discovery.Service
	for _, svc := range ix.snap.Services {
		if svc.Namespace != pod.Namespace || len(svc.Selector) == 0 || !matches(pod.Labels, svc.Selector) {
			continue
		}
		for _, sp := range svc.Ports {
			if target, ok := pod.ResolveTargetPort(sp); ok && target == port {
				if found != nil && found != svc {
					return nil
				}
				found = svc
			}
		}
	}
	return found
}

func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
