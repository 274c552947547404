// Package discoverytest builds mesh snapshots in code, for tests and
// benchmarks that need a mesh of a given size without YAML.
package discoverytest

import (
	"fmt"

	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// Synthetic is a mesh of `services` services in one namespace, each with
// `pods` pods split across versions v1 and v2, a DestinationRule with those
// two subsets and a VirtualService sending 90/10 between them.
func Synthetic(services, pods int) *discovery.Snapshot {
	return SyntheticWithClients(services, pods, 0)
}

// SyntheticWithClients is Synthetic plus `clients` client pods
// (client-0…, label app=client) that no service selects: many proxies
// with the outbound part of a view only.
func SyntheticWithClients(services, pods, clients int) *discovery.Snapshot {
	snap := &discovery.Snapshot{Version: 1, Endpoints: map[string][]*discovery.Endpoint{}}
	const ns = "load"
	for c := 0; c < clients; c++ {
		snap.Pods = append(snap.Pods, &discovery.Pod{
			Meta: discovery.Meta{Kind: "Pod", Name: fmt.Sprintf("client-%d", c), Namespace: ns, Labels: map[string]string{"app": "client"}},
			IP:   fmt.Sprintf("10.200.%d.%d", c/250, 1+c%250), Ready: true, ServiceAccount: "client",
		})
	}
	for s := 0; s < services; s++ {
		name := fmt.Sprintf("svc-%03d", s)
		svc := &discovery.Service{
			Meta:     discovery.Meta{Kind: "Service", Name: name, Namespace: ns},
			Hostname: discovery.Hostname(name, ns, discovery.DefaultDomainSuffix),
			Ports:    []discovery.ServicePort{{Name: "http", Port: 80, TargetPortNumber: 8080}},
			Selector: map[string]string{"app": name},
		}
		snap.Services = append(snap.Services, svc)
		for p := 0; p < pods; p++ {
			pod := syntheticPod(name, ns, s, p)
			snap.Pods = append(snap.Pods, pod)
			snap.Endpoints[svc.Key()] = append(snap.Endpoints[svc.Key()], &discovery.Endpoint{
				Address: pod.IP, Ports: map[string]uint32{"http": 8080}, Labels: pod.Labels, PodName: pod.Name, Ready: true,
			})
		}
		snap.DestinationRules = append(snap.DestinationRules, &discovery.DestinationRule{
			Meta: discovery.Meta{Kind: "DestinationRule", Name: name, Namespace: ns},
			Spec: &networking.DestinationRule{Host: name, Subsets: []*networking.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}},
				{Name: "v2", Labels: map[string]string{"version": "v2"}},
			}},
		})
		snap.VirtualServices = append(snap.VirtualServices, &discovery.VirtualService{
			Meta: discovery.Meta{Kind: "VirtualService", Name: name, Namespace: ns},
			Spec: &networking.VirtualService{Hosts: []string{name}, Http: []*networking.HTTPRoute{{
				Route: []*networking.HTTPRouteDestination{
					{Destination: &networking.Destination{Host: name, Subset: "v1"}, Weight: 90},
					{Destination: &networking.Destination{Host: name, Subset: "v2"}, Weight: 10},
				},
			}}},
		})
	}
	return snap.Seal()
}

func syntheticPod(app, ns string, s, p int) *discovery.Pod {
	version := "v1"
	if p%2 == 1 {
		version = "v2"
	}
	return &discovery.Pod{
		Meta: discovery.Meta{
			Kind: "Pod", Name: fmt.Sprintf("%s-%d", app, p), Namespace: ns,
			Labels: map[string]string{"app": app, "version": version},
		},
		IP:             fmt.Sprintf("10.%d.%d.%d", 1+s/250, s%250, 1+p),
		Ready:          true,
		ServiceAccount: app,
		ContainerPorts: []discovery.ContainerPort{{Name: "http", Port: 8080}},
	}
}
