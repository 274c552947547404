package xdstest

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
)

// Envoy is a model of how Envoy takes config over one ADS stream, for
// tests of the order in which a server sends it. It keeps what Envoy
// keeps, the way Envoy does:
//   - a new EDS cluster cannot be used (it is warming) until its endpoints
//     arrive; a changed one goes on serving meanwhile;
//   - a cluster or listener left out of a state-of-the-world response, or
//     removed over Delta, is gone at once, and so are a cluster's endpoints;
//   - it asks for the endpoints of its EDS clusters and the route
//     configurations its listeners name, and for listeners only once its
//     first clusters are warm.
//
// After every response it applies, it checks what a request would meet:
// every cluster that a route or TCP proxy of a serving listener names must
// be usable, or Envoy would answer 503 (no_cluster) or drop the
// connection. Each break of that is recorded (Violations).
type Envoy struct {
	NodeID string

	mu         sync.Mutex
	changed    *sync.Cond
	clusters   map[string]*clusterState
	endpoints  map[string]bool
	listeners  map[string]*listener.Listener
	routes     map[string]*route.RouteConfiguration
	violations []string
	responses  []string // "type: names", in the order applied
	serving    [][]string
	err        error // why the stream ended
}

type clusterState struct{ eds, warming bool }

func newEnvoy(nodeID string) *Envoy {
	e := &Envoy{NodeID: nodeID, clusters: map[string]*clusterState{}, endpoints: map[string]bool{},
		listeners: map[string]*listener.Listener{}, routes: map[string]*route.RouteConfiguration{}}
	e.changed = sync.NewCond(&e.mu)
	return e
}

// State is what the model holds at one moment.
type State struct {
	Clusters  map[string]bool // name → usable (false: warming)
	Listeners []string
	// Routes maps each route configuration to the clusters it names.
	Routes map[string][]string
}

func (e *Envoy) state() State {
	s := State{Clusters: map[string]bool{}, Routes: map[string][]string{}}
	for name, c := range e.clusters {
		s.Clusters[name] = !c.warming
	}
	for name := range e.listeners {
		s.Listeners = append(s.Listeners, name)
	}
	sort.Strings(s.Listeners)
	for name, rc := range e.routes {
		s.Routes[name] = routeClusters(rc)
	}
	return s
}

// Wait waits until cond holds of the model's state, failing the test after
// 10 seconds or when the stream ends.
func (e *Envoy) Wait(t testing.TB, what string, cond func(State) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	timer := time.AfterFunc(10*time.Second, func() { e.mu.Lock(); e.changed.Broadcast(); e.mu.Unlock() })
	defer timer.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for !cond(e.state()) {
		if e.err != nil {
			t.Fatalf("%s: waiting for %s: the stream ended: %v", e.NodeID, what, e.err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not happen within 10s; it holds %+v", e.NodeID, what, e.state())
		}
		e.changed.Wait()
	}
}

// Violations lists every moment a serving route named a cluster the model
// could not use.
func (e *Envoy) Violations() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.violations)
}

// Responses lists the responses applied, in order, as "TYPE: names".
func (e *Envoy) Responses() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.responses)
}

// apply takes one response: upserted resources and removed names. all: a
// state-of-the-world response of a type where absence means removal.
func (e *Envoy) apply(label string, upserts []proto.Message, removed []string, all bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := map[string]bool{}
	for _, m := range upserts {
		switch r := m.(type) {
		case *cluster.Cluster:
			names[r.GetName()] = true
			if c := e.clusters[r.GetName()]; c == nil {
				eds := r.GetType() == cluster.Cluster_EDS
				e.clusters[r.GetName()] = &clusterState{eds: eds, warming: eds}
			}
		case *endpoint.ClusterLoadAssignment:
			e.endpoints[r.GetClusterName()] = true
			if c := e.clusters[r.GetClusterName()]; c != nil {
				c.warming = false
			}
		case *listener.Listener:
			names[r.GetName()] = true
			e.listeners[r.GetName()] = r
		case *route.RouteConfiguration:
			e.routes[r.GetName()] = r
		}
	}
	if all {
		for name := range e.kind(label) {
			if !names[name] {
				removed = append(removed, name)
			}
		}
	}
	for _, name := range removed {
		switch label {
		case "CDS":
			delete(e.clusters, name)
			delete(e.endpoints, name)
		case "EDS":
			delete(e.endpoints, name)
		case "LDS":
			delete(e.listeners, name)
		case "RDS":
			delete(e.routes, name)
		}
	}
	sortedNames := slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	})
	e.responses = append(e.responses, fmt.Sprintf("%s: %v -%v", label, sortedNames, removed))
	e.check(label)
	e.serving = append(e.serving, e.servingListeners())
	e.changed.Broadcast()
}

// ServingHistory lists, after each response applied, the listeners that
// were serving (present, with their route configuration).
func (e *Envoy) ServingHistory() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.serving)
}

func (e *Envoy) servingListeners() []string {
	var out []string
	for name, l := range e.listeners {
		if _, serving := e.listenerClusters(l); serving {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (e *Envoy) kind(label string) map[string]bool {
	out := map[string]bool{}
	switch label {
	case "CDS":
		for n := range e.clusters {
			out[n] = true
		}
	case "LDS":
		for n := range e.listeners {
			out[n] = true
		}
	}
	return out
}

// check records every cluster a serving listener would send to that is
// missing or warming.
func (e *Envoy) check(after string) {
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range e.listeners {
			if !yield(n) {
				return
			}
		}
	}) {
		refs, serving := e.listenerClusters(e.listeners[name])
		if !serving {
			continue
		}
		for _, c := range refs {
			switch cs := e.clusters[c]; {
			case cs == nil:
				e.violations = append(e.violations, fmt.Sprintf("after a %s response: listener %s sends to cluster %s, which Envoy does not have", after, name, c))
			case cs.warming:
				e.violations = append(e.violations, fmt.Sprintf("after a %s response: listener %s sends to cluster %s, which is still warming (no endpoints yet)", after, name, c))
			}
		}
	}
}

// listenerClusters: what a listener sends to, and whether it serves (a
// listener whose route configuration has not arrived is warming).
func (e *Envoy) listenerClusters(l *listener.Listener) ([]string, bool) {
	var out []string
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			cfg, err := f.GetTypedConfig().UnmarshalNew()
			if err != nil {
				continue
			}
			switch c := cfg.(type) {
			case *tcpproxy.TcpProxy:
				if c.GetCluster() != "" {
					out = append(out, c.GetCluster())
				}
				for _, w := range c.GetWeightedClusters().GetClusters() {
					out = append(out, w.GetName())
				}
			case *hcm.HttpConnectionManager:
				if rc := c.GetRouteConfig(); rc != nil {
					out = append(out, routeClusters(rc)...)
				} else if rc := e.routes[c.GetRds().GetRouteConfigName()]; rc != nil {
					out = append(out, routeClusters(rc)...)
				} else {
					return nil, false
				}
			}
		}
	}
	return out, true
}

// routeNames are the route configurations the listeners ask for (RDS).
func (e *Envoy) routeNames() []string {
	var out []string
	for _, l := range e.listeners {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if c, ok := unmarshal(f.GetTypedConfig()).(*hcm.HttpConnectionManager); ok && c.GetRds() != nil {
					out = append(out, c.GetRds().GetRouteConfigName())
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// edsNames are the clusters whose endpoints Envoy asks for.
func (e *Envoy) edsNames() []string {
	var out []string
	for name, c := range e.clusters {
		if c.eds {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// warm: no cluster waits for its endpoints (Envoy starts listeners then).
func (e *Envoy) warm() bool {
	for _, c := range e.clusters {
		if c.warming {
			return false
		}
	}
	return true
}

func routeClusters(rc *route.RouteConfiguration) []string {
	var out []string
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			a := r.GetRoute()
			if c := a.GetCluster(); c != "" {
				out = append(out, c)
			}
			for _, w := range a.GetWeightedClusters().GetClusters() {
				out = append(out, w.GetName())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
