package translate

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/discoverytest"
)

// A mesh following another takes the clusters and load assignments that
// its change left as they were (the same messages), and makes anew those
// it changed.
func TestMeshFollowingKeepsWhatItsChangeLeft(t *testing.T) {
	weights := func(s *discovery.Snapshot) {
		s.VirtualServices[0].Spec.Http[0].Route[0].Weight = 50
		s.VirtualServices[0].Spec.Http[0].Route[1].Weight = 50
	}
	cases := []struct {
		name         string
		change       func(*discovery.Snapshot)
		sameClusters bool
	}{
		{name: "weights", change: weights, sameClusters: true},
		{name: "an endpoint not ready", change: func(s *discovery.Snapshot) {
			s.Endpoints[s.Services[0].Key()][1].Ready = false
		}, sameClusters: true},
		{name: "another service account", change: func(s *discovery.Snapshot) {
			pod := *s.Pods[0] // of svc-000: its SPIFFE ID is a SAN of the service's clusters
			pod.ServiceAccount = "other"
			s.Pods[0] = &pod
		}, sameClusters: false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev := NewMesh(withSidecars(discoverytest.Synthetic(3, 2)))
			before := map[string]any{}
			for _, cl := range prev.outboundClusters() {
				before[cl.Name] = cl
			}
			for _, la := range prev.LoadAssignments() {
				before["eds "+la.ClusterName] = la
			}
			snap := withSidecars(discoverytest.Synthetic(3, 2))
			c.change(snap)
			next := NewMeshFollowing(prev, snap.Seal()) // indexes the changed pods
			for _, cl := range next.outboundClusters() {
				if same := before[cl.Name] == any(cl); same != c.sameClusters {
					t.Errorf("cluster %s: the previous mesh's %v, want %v", cl.Name, same, c.sameClusters)
				}
			}
			for _, la := range next.LoadAssignments() {
				// A service's load assignments are made again together.
				_, _, host, _ := ParseOutboundClusterName(la.ClusterName)
				changed := host == snap.Services[0].Hostname && c.name != "weights"
				if same := before["eds "+la.ClusterName] == any(la); same == changed {
					t.Errorf("load assignment %s: the previous mesh's %v, want %v", la.ClusterName, same, !changed)
				}
			}
		})
	}
}

// Clusters are carried over an endpoint change that makes none (the push
// resolves only load assignments) to the route change after it, and no
// mesh keeps the one before it alive.
func TestMeshesFollowingOneAnotherKeepNoChain(t *testing.T) {
	first := NewMesh(discoverytest.Synthetic(3, 2))
	clusters := first.outboundClusters()
	var freed atomic.Int64
	m := first
	const meshes = 20
	for i := range meshes {
		snap := discoverytest.Synthetic(3, 2)
		snap.Endpoints[snap.Services[0].Key()][1].Ready = i%2 == 0
		next := NewMeshFollowing(m, snap)
		next.LoadAssignments() // what an endpoint-only push makes
		if m != first {
			runtime.AddCleanup(m, func(struct{}) { freed.Add(1) }, struct{}{})
		}
		m = next
	}
	if got := m.outboundClusters(); &got[0] != &clusters[0] {
		t.Error("the clusters were made again after endpoint changes that changed none")
	}
	deadline := time.Now().Add(5 * time.Second)
	for freed.Load() < meshes-2 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := freed.Load(); n < meshes-2 {
		t.Errorf("%d of %d earlier meshes freed: a chain of meshes is kept", n, meshes-1)
	}
	runtime.KeepAlive(m)
}

// withSidecars marks every pod as running a sidecar (tlsMode istio), so
// that its service account is a SPIFFE ID its services' clusters expect.
func withSidecars(s *discovery.Snapshot) *discovery.Snapshot {
	for i, pod := range s.Pods {
		p := *pod
		p.Labels = map[string]string{discovery.TLSModeLabel: "istio"}
		for k, v := range pod.Labels {
			p.Labels[k] = v
		}
		s.Pods[i] = &p
	}
	return s.Seal()
}

// A following mesh's route table takes the virtual hosts of services whose
// VirtualService did not change, and makes again those whose did, or
// whose VirtualService it no longer sees.
func TestMeshFollowingMakesAgainOnlyTheVirtualHostsOfChangedRules(t *testing.T) {
	cases := []struct {
		name   string
		change func(*discovery.Snapshot)
		remade []int // services whose virtual host is made again
	}{
		{name: "nothing", change: func(*discovery.Snapshot) {}},
		{name: "weights of svc-001", change: func(s *discovery.Snapshot) {
			s.VirtualServices[1].Spec.Http[0].Route[0].Weight = 50
			s.VirtualServices[1].Spec.Http[0].Route[1].Weight = 50
		}, remade: []int{1}},
		{name: "svc-002's rule exported elsewhere", change: func(s *discovery.Snapshot) {
			s.VirtualServices[2].Spec.ExportTo = []string{"other"}
		}, remade: []int{2}},
		{name: "svc-000's rule gone", change: func(s *discovery.Snapshot) {
			s.VirtualServices = s.VirtualServices[1:]
		}, remade: []int{0}},
	}
	table := func(m *Mesh, snap *discovery.Snapshot) *route.RouteConfiguration {
		pod := snap.Pods[0]
		return m.ForProxy(Proxy{Type: Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace}).Routes[0]
	}
	routes := func(m *Mesh, snap *discovery.Snapshot) map[string]any {
		out := map[string]any{}
		for _, vh := range table(m, snap).GetVirtualHosts() {
			out[vh.GetName()] = vh
		}
		return out
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first := discoverytest.Synthetic(3, 2)
			prev := NewMesh(first)
			before := routes(prev, first)
			snap := discoverytest.Synthetic(3, 2)
			c.change(snap)
			snap.Seal()
			following := NewMeshFollowing(prev, snap)
			if got, want := table(following, snap), table(NewMesh(snap), snap); !proto.Equal(got, want) {
				t.Errorf("the following mesh's route table is not the one a new mesh makes:\n%v\nwant\n%v", got, want)
			}
			after := routes(following, snap)
			if len(after) != len(before) || len(after) != 3 {
				t.Fatalf("%d virtual hosts, then %d", len(before), len(after))
			}
			for i, svc := range snap.Services {
				name := svc.Hostname + ":80"
				remade := slices.Contains(c.remade, i)
				if got := after[name] != before[name]; got != remade {
					t.Errorf("%s made again: %v, want %v", name, got, remade)
				}
			}
		})
	}
}

// A pod's inbound ports are found once per pod object and kept by a
// following mesh; a pod that changed is looked at again.
func TestInboundPortsAreFoundOncePerPod(t *testing.T) {
	snap := discoverytest.Synthetic(3, 2)
	prev := NewMesh(snap)
	first := prev.inboundPortsOf(snap.Pods[0])
	if len(first) != 1 || first[0].Port != 8080 {
		t.Fatalf("inbound ports %v, want 8080", first)
	}
	if again := prev.inboundPortsOf(snap.Pods[0]); &again[0] != &first[0] {
		t.Error("found again for the same pod in the same mesh")
	}
	next := discoverytest.Synthetic(3, 2)
	next.Pods[0] = snap.Pods[0] // the same object: unchanged
	changed := *next.Pods[1]
	changed.Labels = map[string]string{"app": "none"} // selected by no service now
	next.Pods[1] = &changed
	following := NewMeshFollowing(prev, next.Seal())
	if kept := following.inboundPortsOf(snap.Pods[0]); &kept[0] != &first[0] {
		t.Error("a following mesh found the ports of an unchanged pod again")
	}
	if ports := following.inboundPortsOf(&changed); len(ports) != 0 {
		t.Errorf("a pod no service selects has inbound ports %v", ports)
	}
}

// A sidecar's listeners that no VirtualService shapes are kept by a
// following mesh while its pod is the same object, and are what a new mesh
// would make; a pod that changed gets its own made again.
func TestMeshFollowingKeepsSidecarListeners(t *testing.T) {
	listeners := func(m *Mesh, pod *discovery.Pod) map[string]*listener.Listener {
		out := map[string]*listener.Listener{}
		for _, l := range m.ForProxy(Proxy{Type: Sidecar, IP: pod.IP, PodName: pod.Name, Namespace: pod.Namespace}).Listeners {
			out[l.Name] = l
		}
		return out
	}
	snap := discoverytest.Synthetic(3, 2)
	prev := NewMesh(snap)
	kept, changed := snap.Pods[0], snap.Pods[1]
	before, beforeChanged := listeners(prev, kept), listeners(prev, changed)
	if len(before) != 2 {
		t.Fatalf("listeners %v, want the HTTP proxy's and one inbound", before)
	}
	next := discoverytest.Synthetic(3, 2)
	next.Pods[0] = kept
	notReady := *changed
	notReady.Ready = false
	next.Pods[1] = &notReady
	next.VirtualServices[0].Spec.Http[0].Route[0].Weight = 50
	next.VirtualServices[0].Spec.Http[0].Route[1].Weight = 50
	following := NewMeshFollowing(prev, next.Seal())
	fresh := NewMesh(next)
	for name, l := range listeners(following, kept) {
		if l != before[name] {
			t.Errorf("%s made again for an unchanged pod", name)
		}
		if want := listeners(fresh, kept)[name]; !proto.Equal(l, want) {
			t.Errorf("%s is not what a new mesh makes", name)
		}
	}
	for name, l := range listeners(following, &notReady) {
		if l == beforeChanged[name] {
			t.Errorf("%s of a changed pod was kept", name)
		}
	}
}
