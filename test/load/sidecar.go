package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
)

// sidecar is one simulated Envoy sidecar on an ADS stream of its own, over
// a connection of its own (as Envoy has). It asks for what Envoy asks for,
// in Envoy's order: clusters; then the endpoints of its EDS clusters; once
// every one of those has its endpoints, listeners; then the route tables
// its listeners name. It ACKs every response once it has read it, never
// NACKs, and keeps, like Envoy, what a response of endpoints or routes does
// not mention (only clusters and listeners are state of the world).
type sidecar struct {
	proxy Proxy
	delta bool
	names *names
	bytes atomic.Int64 // payload bytes received on the wire

	mu                 sync.Mutex
	eds, rds           typeState
	cdsAcked, ldsAcked bool
	ldsStarted         bool
	syncedAt           time.Time
	synced             chan struct{}
	watch              *watching
	err                error
}

// typeState is what the sidecar holds of endpoints or routes.
type typeState struct {
	version, nonce string
	wanted         []int32 // name ids, sorted
	have           bitset  // the names it has received a resource of
}

func (ts *typeState) complete() bool {
	for _, id := range ts.wanted {
		if !ts.have.has(id) {
			return false
		}
	}
	return true
}

// want replaces the wanted names; it reports which were added and
// dropped. A dropped name is forgotten (Envoy drops the endpoints of a
// removed cluster).
func (ts *typeState) want(ids []int32) (added, dropped []int32) {
	for _, id := range ids {
		if _, found := slices.BinarySearch(ts.wanted, id); !found {
			added = append(added, id)
		}
	}
	for _, id := range ts.wanted {
		if _, found := slices.BinarySearch(ids, id); !found {
			dropped = append(dropped, id)
			ts.have.remove(id)
		}
	}
	ts.wanted = ids
	return added, dropped
}

func newSidecar(p Proxy, delta bool, n *names) *sidecar {
	return &sidecar{proxy: p, delta: delta, names: n, synced: make(chan struct{})}
}

// statsHandler counts the payload bytes a connection receives.
type statsHandler struct{ s *sidecar }

func (h statsHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h statsHandler) HandleRPC(_ context.Context, st stats.RPCStats) {
	if in, ok := st.(*stats.InPayload); ok {
		h.s.bytes.Add(int64(in.WireLength))
	}
}
func (h statsHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (h statsHandler) HandleConn(context.Context, stats.ConnStats)                       {}

// run connects and serves the stream until ctx ends or the stream fails.
func (s *sidecar) run(ctx context.Context, addr string, creds Credentials) {
	err := s.connectAndServe(ctx, addr, creds)
	s.mu.Lock()
	if ctx.Err() == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *sidecar) connectAndServe(ctx context.Context, addr string, creds Credentials) error {
	opts, err := creds.DialOptions(s.proxy)
	if err != nil {
		return err
	}
	opts = append(opts, grpc.WithStatsHandler(statsHandler{s}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	sctx, err := creds.StreamContext(ctx, s.proxy)
	if err != nil {
		return err
	}
	ads := discoverypb.NewAggregatedDiscoveryServiceClient(conn)
	if s.delta {
		return s.serveDelta(sctx, ads)
	}
	return s.serveSotw(sctx, ads)
}

func (s *sidecar) node() *core.Node { return &core.Node{Id: s.proxy.NodeID, Cluster: s.proxy.Pod} }

// serveSotw is the state-of-the-world stream. The node goes on the first
// request only, as Istio's bootstrap has it (set_node_on_first_message_only).
func (s *sidecar) serveSotw(ctx context.Context, ads discoverypb.AggregatedDiscoveryServiceClient) error {
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	first := true
	send := func(req *discoverypb.DiscoveryRequest) error {
		if first {
			req.Node, first = s.node(), false
		}
		return stream.Send(req)
	}
	if err := send(&discoverypb.DiscoveryRequest{TypeUrl: resourcev3.ClusterType}); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := s.onSotw(resp, send); err != nil {
			return err
		}
	}
}

func (s *sidecar) onSotw(resp *discoverypb.DiscoveryResponse, send func(*discoverypb.DiscoveryRequest) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ack := &discoverypb.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
	var next []*discoverypb.DiscoveryRequest
	switch resp.GetTypeUrl() {
	case resourcev3.ClusterType:
		s.cdsAcked = true
		if added, dropped := s.eds.want(s.edsNames(resp.GetResources())); len(added)+len(dropped) > 0 {
			next = append(next, &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType,
				VersionInfo: s.eds.version, ResponseNonce: s.eds.nonce, ResourceNames: s.nameList(s.eds.wanted)})
		}
	case resourcev3.EndpointType:
		s.received(&s.eds, resp.GetTypeUrl(), resp.GetResources(), claClusterName)
		s.eds.version, s.eds.nonce = resp.GetVersionInfo(), resp.GetNonce()
		ack.ResourceNames = s.nameList(s.eds.wanted)
	case resourcev3.ListenerType:
		s.ldsAcked = true
		if added, dropped := s.rds.want(s.routeNames(resp.GetResources())); len(added)+len(dropped) > 0 {
			next = append(next, &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.RouteType,
				VersionInfo: s.rds.version, ResponseNonce: s.rds.nonce, ResourceNames: s.nameList(s.rds.wanted)})
		}
	case resourcev3.RouteType:
		s.received(&s.rds, resp.GetTypeUrl(), resp.GetResources(), routeConfigName)
		s.rds.version, s.rds.nonce = resp.GetVersionInfo(), resp.GetNonce()
		ack.ResourceNames = s.nameList(s.rds.wanted)
	default:
		return fmt.Errorf("unexpected type %s", resp.GetTypeUrl())
	}
	if err := send(ack); err != nil {
		return err
	}
	for _, req := range next {
		if err := send(req); err != nil {
			return err
		}
	}
	if !s.ldsStarted && s.cdsAcked && s.eds.complete() {
		s.ldsStarted = true
		if err := send(&discoverypb.DiscoveryRequest{TypeUrl: resourcev3.ListenerType}); err != nil {
			return err
		}
	}
	s.afterResponse(resp.GetTypeUrl())
	return nil
}

// serveDelta is the incremental stream.
func (s *sidecar) serveDelta(ctx context.Context, ads discoverypb.AggregatedDiscoveryServiceClient) error {
	stream, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	first := true
	send := func(req *discoverypb.DeltaDiscoveryRequest) error {
		if first {
			req.Node, first = s.node(), false
		}
		return stream.Send(req)
	}
	if err := send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType}); err != nil {
		return err
	}
	clusters := map[string][]byte{} // Delta sends changes: the sidecar keeps the set
	listeners := map[string][]string{}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := s.onDelta(resp, send, clusters, listeners); err != nil {
			return err
		}
	}
}

func (s *sidecar) onDelta(resp *discoverypb.DeltaDiscoveryResponse, send func(*discoverypb.DeltaDiscoveryRequest) error,
	clusters map[string][]byte, listeners map[string][]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []*discoverypb.DeltaDiscoveryRequest
	resubscribe := func(typeURL string, ts *typeState, ids []int32) {
		if added, dropped := ts.want(ids); len(added)+len(dropped) > 0 {
			next = append(next, &discoverypb.DeltaDiscoveryRequest{TypeUrl: typeURL,
				ResourceNamesSubscribe: s.nameList(added), ResourceNamesUnsubscribe: s.nameList(dropped)})
		}
	}
	switch resp.GetTypeUrl() {
	case resourcev3.ClusterType:
		s.cdsAcked = true
		for _, r := range resp.GetResources() {
			if name, eds := clusterEDSName(r.GetResource().GetValue()); eds {
				clusters[r.GetName()] = name
			} else {
				delete(clusters, r.GetName())
			}
		}
		for _, name := range resp.GetRemovedResources() {
			delete(clusters, name)
		}
		ids := make([]int32, 0, len(clusters))
		for _, name := range clusters {
			ids = append(ids, s.names.id(name))
		}
		resubscribe(resourcev3.EndpointType, &s.eds, sortedIDs(ids))
	case resourcev3.EndpointType:
		s.receivedDelta(&s.eds, resp)
	case resourcev3.ListenerType:
		s.ldsAcked = true
		for _, r := range resp.GetResources() {
			listeners[r.GetName()] = listenerRoutes(r.GetResource().GetValue())
		}
		for _, name := range resp.GetRemovedResources() {
			delete(listeners, name)
		}
		var ids []int32
		for _, routes := range listeners {
			for _, r := range routes {
				ids = append(ids, s.names.idOf(r))
			}
		}
		resubscribe(resourcev3.RouteType, &s.rds, sortedIDs(ids))
	case resourcev3.RouteType:
		s.receivedDelta(&s.rds, resp)
	default:
		return fmt.Errorf("unexpected type %s", resp.GetTypeUrl())
	}
	if err := send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
		return err
	}
	for _, req := range next {
		if err := send(req); err != nil {
			return err
		}
	}
	if !s.ldsStarted && s.cdsAcked && s.eds.complete() {
		s.ldsStarted = true
		if err := send(&discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType}); err != nil {
			return err
		}
	}
	s.afterResponse(resp.GetTypeUrl())
	return nil
}

func (s *sidecar) receivedDelta(ts *typeState, resp *discoverypb.DeltaDiscoveryResponse) {
	for _, r := range resp.GetResources() {
		id := s.names.idOf(r.GetName())
		ts.have.add(id)
		s.observe(resp.GetTypeUrl(), r.GetName(), r.GetResource().GetValue())
	}
	if s.watch != nil && s.watch.c.TypeURL == resp.GetTypeUrl() {
		s.watch.resources += len(resp.GetResources())
	}
	for _, name := range resp.GetRemovedResources() {
		ts.have.remove(s.names.idOf(name))
	}
}

// edsNames are the names under which the clusters of a response ask for
// endpoints.
func (s *sidecar) edsNames(resources []*anypb.Any) []int32 {
	ids := make([]int32, 0, len(resources))
	for _, a := range resources {
		if name, eds := clusterEDSName(a.GetValue()); eds {
			ids = append(ids, s.names.id(name))
		}
	}
	return sortedIDs(ids)
}

func (s *sidecar) routeNames(resources []*anypb.Any) []int32 {
	var ids []int32
	for _, a := range resources {
		for _, r := range listenerRoutes(a.GetValue()) {
			ids = append(ids, s.names.idOf(r))
		}
	}
	return sortedIDs(ids)
}

// received records the resources of a state-of-the-world response of
// endpoints or routes, each named by the given field.
func (s *sidecar) received(ts *typeState, typeURL string, resources []*anypb.Any, nameField protowire.Number) {
	for _, a := range resources {
		name := stringField(a.GetValue(), nameField)
		ts.have.add(s.names.id(name))
		if s.watch != nil {
			s.observe(typeURL, string(name), a.GetValue())
		}
	}
	if s.watch != nil && s.watch.c.TypeURL == typeURL {
		s.watch.resources += len(resources)
	}
}

func (s *sidecar) nameList(ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = s.names.name(id)
	}
	return out
}

func sortedIDs(ids []int32) []int32 {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// afterResponse runs once a response is ACKed: the sidecar is synced once
// it has clusters, the endpoints of all its EDS clusters, listeners and
// every route table they name; a change it watches has arrived once every
// resource the change is about has come with the new content.
func (s *sidecar) afterResponse(typeURL string) {
	now := time.Now()
	if s.syncedAt.IsZero() && s.cdsAcked && s.ldsAcked && s.eds.complete() && s.rds.complete() && len(s.rds.wanted) > 0 {
		s.syncedAt = now
		close(s.synced)
	}
	if w := s.watch; w != nil && w.c.TypeURL == typeURL && len(w.pending) == 0 && w.done.IsZero() {
		w.done = now
		close(w.arrived)
	}
}

// change is one edit of the mesh, as the sidecars see it: the resources
// of one type it changes, each with a test of its new content.
type change struct {
	Kind    string
	TypeURL string
	Want    map[string]func(raw []byte) bool
}

// watching is a sidecar's progress on a change.
type watching struct {
	c         *change
	pending   map[string]bool
	resources int // resources of the change's type received since it started
	done      time.Time
	arrived   chan struct{}
	bytesAt   int64 // bytes received before the change
}

// watchChange starts watching for a change, before it is made. It returns
// nil when the sidecar holds none of what the change is about (a scoped
// sidecar that cannot reach the service).
func (s *sidecar) watchChange(c *change) *watching {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := &s.eds
	if c.TypeURL == resourcev3.RouteType {
		ts = &s.rds
	}
	w := &watching{c: c, pending: map[string]bool{}, arrived: make(chan struct{}), bytesAt: s.bytes.Load()}
	for name := range c.Want {
		if _, found := slices.BinarySearch(ts.wanted, s.names.idOf(name)); found {
			w.pending[name] = true
		}
	}
	if len(w.pending) == 0 {
		s.watch = nil
		return nil
	}
	s.watch = w
	return w
}

func (s *sidecar) observe(typeURL, name string, raw []byte) {
	w := s.watch
	if w == nil || w.c.TypeURL != typeURL || !w.pending[name] {
		return
	}
	if w.c.Want[name](raw) {
		delete(w.pending, name)
	}
}

func (s *sidecar) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

var errNotSynced = errors.New("not synced")
