package load

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
// in Envoy's order: clusters; then the endpoints of its EDS clusters and
// the secrets their TLS contexts name; once it has all of those (its
// clusters are warm), listeners; then the route tables and secrets its
// listeners name. It ACKs every response once it has read it, never
// NACKs, and keeps, like Envoy, what a response of endpoints, routes or
// secrets does not mention (only clusters and listeners are state of the
// world).
type sidecar struct {
	proxy   Proxy
	delta   bool
	names   *names
	secrets *secretsOf
	// clusters: what each cluster needs, shared by the sidecars.
	clusters *needsOf
	codec    *responseCodec // its connection's
	bytes    atomic.Int64   // payload bytes received on the wire
	// responses counts the responses received, by type URL.
	responses sync.Map

	mu                 sync.Mutex
	eds, rds, sds      typeState
	clusterSecrets     []int32 // sorted
	listenerSecrets    []int32
	cdsAcked, ldsAcked bool
	ldsStarted         bool
	syncedAt           time.Time
	synced             chan struct{}
	watch              *watching
	err                error
}

// typeState is what the sidecar holds of endpoints, routes or secrets.
type typeState struct {
	version, nonce string
	wanted         []int32 // name ids, sorted
	have           bitset  // the names it has received a resource of
	// wantedField: wanted as a request's resource_names, encoded once per
	// list (a state-of-the-world sidecar repeats its 3,000 names in every
	// request; see withNames). nil until needed.
	wantedField []byte
}

func (ts *typeState) complete() bool { return holdsAll(ts, ts.wanted) }

func holdsAll(ts *typeState, ids []int32) bool {
	for _, id := range ids {
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
	if len(added)+len(dropped) > 0 {
		ts.wantedField = nil
	}
	return added, dropped
}

func newSidecar(p Proxy, delta bool, n *names, secrets *secretsOf, clusters *needsOf) *sidecar {
	return &sidecar{proxy: p, delta: delta, names: n, secrets: secrets, clusters: clusters, codec: newResponseCodec(), synced: make(chan struct{})}
}

// warm: it has the endpoints and secrets of all its clusters (Envoy then
// starts its listeners).
func (s *sidecar) warm() bool {
	return s.cdsAcked && s.eds.complete() && holdsAll(&s.sds, s.clusterSecrets)
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

const envoyWindow = 256 << 20

func (s *sidecar) connectAndServe(ctx context.Context, addr string, creds Credentials) error {
	opts, err := creds.DialOptions(s.proxy)
	if err != nil {
		return err
	}
	opts = append(opts, grpc.WithStatsHandler(statsHandler{s}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)), s.codec.option(),
		// Envoy's HTTP/2 windows, which the bootstrap leaves at their
		// default (256 MiB, Http2ProtocolOptions initial_stream_window_size
		// and initial_connection_window_size): gRPC-Go's 64 KiB start
		// would make the server wait for window updates that Envoy never
		// makes it wait for.
		grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow))
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
		err = s.onSotw(resp, send)
		s.codec.release() // resp is not read after
		if err != nil {
			return err
		}
	}
}

func (s *sidecar) onSotw(resp *discoverypb.DiscoveryResponse, send func(*discoverypb.DiscoveryRequest) error) error {
	s.count(resp.GetTypeUrl(), len(resp.GetResources()))
	s.mu.Lock()
	defer s.mu.Unlock()
	ack := &discoverypb.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
	var next []*discoverypb.DiscoveryRequest
	ask := func(typeURL string, ts *typeState, ids []int32) {
		if added, dropped := ts.want(ids); len(added)+len(dropped) > 0 {
			next = append(next, &discoverypb.DiscoveryRequest{TypeUrl: typeURL,
				VersionInfo: ts.version, ResponseNonce: ts.nonce})
			s.withNames(next[len(next)-1], ts)
		}
	}
	switch resp.GetTypeUrl() {
	case resourcev3.ClusterType:
		s.cdsAcked = true
		var eds, secrets []int32
		for _, a := range resp.GetResources() {
			e, sec := s.clusterNeeds(a.GetValue())
			eds, secrets = append(eds, e...), append(secrets, sec...)
		}
		s.clusterSecrets = sortedIDs(secrets)
		ask(resourcev3.EndpointType, &s.eds, sortedIDs(eds))
		ask(resourcev3.SecretType, &s.sds, s.secretIDs())
	case resourcev3.ListenerType:
		s.ldsAcked = true
		var routes, secrets []int32
		for _, a := range resp.GetResources() {
			r, sec := s.listenerNeeds(a.GetValue())
			routes, secrets = append(routes, r...), append(secrets, sec...)
		}
		s.listenerSecrets = sortedIDs(secrets)
		ask(resourcev3.RouteType, &s.rds, sortedIDs(routes))
		ask(resourcev3.SecretType, &s.sds, s.secretIDs())
	case resourcev3.EndpointType, resourcev3.RouteType, resourcev3.SecretType:
		ts, field := s.state(resp.GetTypeUrl())
		s.received(ts, resp.GetTypeUrl(), resp.GetResources(), field)
		ts.version, ts.nonce = resp.GetVersionInfo(), resp.GetNonce()
		s.withNames(ack, ts)
	default:
		return fmt.Errorf("unexpected type %s", resp.GetTypeUrl())
	}
	return answer(s, send, ack, next, &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.ListenerType}, resp.GetTypeUrl())
}

// state is the sidecar's state of a type it names resources of, and the
// field that names a resource of the type.
func (s *sidecar) state(typeURL string) (*typeState, protowire.Number) {
	switch typeURL {
	case resourcev3.EndpointType:
		return &s.eds, claClusterName
	case resourcev3.RouteType:
		return &s.rds, routeConfigName
	}
	return &s.sds, secretName
}

// clusterNeeds: the endpoints (as a one-name list, none if not EDS) and
// secrets a cluster makes the sidecar ask for. The slices are shared:
// read them, never change them.
func (s *sidecar) clusterNeeds(b []byte) (eds, secrets []int32) {
	if n, ok := s.clusters.get(b); ok {
		return n.first, n.secrets
	}
	eds, secrets = s.readClusterNeeds(b)
	s.clusters.put(b, needs{eds, secrets})
	return eds, secrets
}

func (s *sidecar) readClusterNeeds(b []byte) (eds, secrets []int32) {
	name, sockets := clusterNeeds(b)
	if name != nil {
		eds = []int32{s.names.id(name)}
	}
	for _, ts := range sockets {
		for _, sec := range s.secrets.socket(ts) {
			secrets = append(secrets, s.names.idOf(sec))
		}
	}
	return eds, secrets
}

func (s *sidecar) listenerNeeds(b []byte) (routes, secrets []int32) {
	r, sec := listenerNeeds(b)
	for _, n := range r {
		routes = append(routes, s.names.idOf(n))
	}
	for _, n := range sec {
		secrets = append(secrets, s.names.idOf(n))
	}
	return routes, secrets
}

func (s *sidecar) secretIDs() []int32 {
	return sortedIDs(append(slices.Clone(s.clusterSecrets), s.listenerSecrets...))
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
	kept := &deltaKept{clusters: map[string]needs{}, listeners: map[string]needs{}}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		err = s.onDelta(resp, send, kept)
		s.codec.release()
		if err != nil {
			return err
		}
	}
}

// deltaKept is what a Delta sidecar keeps of its clusters and listeners
// (Delta sends changes: it keeps the set), as what each makes it ask for.
type deltaKept struct {
	clusters, listeners map[string]needs
}

type needs struct{ first, secrets []int32 } // first: EDS name or routes

// needsOf are the needs of clusters by their bytes, for all sidecars: a
// thousand sidecars receive the same 3,000 clusters, and reading each
// one's fields was a fifth of the harness's CPU in a Delta cold sync (on
// the cores the server is measured on).
type needsOf struct {
	mu sync.RWMutex
	m  map[string]needs
}

// maxNeedsOf bounds needsOf (a mesh that changes its clusters often).
const maxNeedsOf = 1 << 16

func newNeedsOf() *needsOf { return &needsOf{m: map[string]needs{}} }

func (c *needsOf) get(b []byte) (needs, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.m[string(b)]
	return n, ok
}

func (c *needsOf) put(b []byte, n needs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxNeedsOf {
		clear(c.m)
	}
	c.m[string(b)] = n
}

func (s *sidecar) onDelta(resp *discoverypb.DeltaDiscoveryResponse, send func(*discoverypb.DeltaDiscoveryRequest) error, kept *deltaKept) error {
	s.count(resp.GetTypeUrl(), len(resp.GetResources()))
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []*discoverypb.DeltaDiscoveryRequest
	ask := func(typeURL string, ts *typeState, ids []int32) {
		if added, dropped := ts.want(ids); len(added)+len(dropped) > 0 {
			next = append(next, &discoverypb.DeltaDiscoveryRequest{TypeUrl: typeURL,
				ResourceNamesSubscribe: s.nameList(added), ResourceNamesUnsubscribe: s.nameList(dropped)})
		}
	}
	union := func(m map[string]needs) (first, secrets []int32) {
		for _, n := range m {
			first, secrets = append(first, n.first...), append(secrets, n.secrets...)
		}
		return sortedIDs(first), sortedIDs(secrets)
	}
	switch resp.GetTypeUrl() {
	case resourcev3.ClusterType:
		s.cdsAcked = true
		for _, r := range resp.GetResources() {
			eds, secrets := s.clusterNeeds(r.GetResource().GetValue())
			kept.clusters[r.GetName()] = needs{eds, secrets}
		}
		for _, name := range resp.GetRemovedResources() {
			delete(kept.clusters, name)
		}
		eds, secrets := union(kept.clusters)
		s.clusterSecrets = secrets
		ask(resourcev3.EndpointType, &s.eds, eds)
		ask(resourcev3.SecretType, &s.sds, s.secretIDs())
	case resourcev3.ListenerType:
		s.ldsAcked = true
		for _, r := range resp.GetResources() {
			routes, secrets := s.listenerNeeds(r.GetResource().GetValue())
			kept.listeners[r.GetName()] = needs{routes, secrets}
		}
		for _, name := range resp.GetRemovedResources() {
			delete(kept.listeners, name)
		}
		routes, secrets := union(kept.listeners)
		s.listenerSecrets = secrets
		ask(resourcev3.RouteType, &s.rds, routes)
		ask(resourcev3.SecretType, &s.sds, s.secretIDs())
	case resourcev3.EndpointType, resourcev3.RouteType, resourcev3.SecretType:
		ts, _ := s.state(resp.GetTypeUrl())
		s.receivedDelta(ts, resp)
	default:
		return fmt.Errorf("unexpected type %s", resp.GetTypeUrl())
	}
	ack := &discoverypb.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}
	return answer(s, send, ack, next, &discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType}, resp.GetTypeUrl())
}

// answer sends what a response of typeURL calls for, in Envoy's order (in
// either protocol): its ACK, the requests for what it newly names, and,
// once the clusters are warm, the first request for listeners.
func answer[R any](s *sidecar, send func(R) error, ack R, next []R, listeners R, typeURL string) error {
	for _, req := range append([]R{ack}, next...) {
		if err := send(req); err != nil {
			return err
		}
	}
	if !s.ldsStarted && s.warm() {
		s.ldsStarted = true
		if err := send(listeners); err != nil {
			return err
		}
	}
	s.afterResponse(typeURL)
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

// withNames sets a state-of-the-world request's resource_names to what ts
// wants: the fields encoded once per list, carried as the request's
// unknown fields (marshaled as they are), rather than three thousand
// strings marshaled again for every ACK on the cores the server is
// measured on. On the wire it is the same request.
func (s *sidecar) withNames(req *discoverypb.DiscoveryRequest, ts *typeState) {
	if ts.wantedField == nil {
		b := []byte{}
		for _, name := range s.nameList(ts.wanted) {
			b = protowire.AppendTag(b, requestResourceNames, protowire.BytesType)
			b = protowire.AppendString(b, name)
		}
		ts.wantedField = b
	}
	req.ProtoReflect().SetUnknown(ts.wantedField)
}

var requestResourceNames = fieldNumber(&discoverypb.DiscoveryRequest{}, "resource_names")

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
	if s.syncedAt.IsZero() && s.warm() && s.ldsAcked && s.rds.complete() && s.sds.complete() && len(s.rds.wanted) > 0 {
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
	ts, _ := s.state(c.TypeURL)
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

// counted is how many responses of a type, and resources in them, a
// sidecar received.
type counted struct{ responses, resources atomic.Int64 }

func (s *sidecar) count(typeURL string, resources int) {
	c, _ := s.responses.LoadOrStore(typeURL, &counted{})
	c.(*counted).responses.Add(1)
	c.(*counted).resources.Add(int64(resources))
}

// counts: responses and resources received so far, by type's short name.
func (s *sidecar) counts() map[string][2]int64 {
	out := map[string][2]int64{}
	s.responses.Range(func(k, v any) bool {
		c := v.(*counted)
		t := k.(string)
		out[t[strings.LastIndex(t, ".")+1:]] = [2]int64{c.responses.Load(), c.resources.Load()}
		return true
	})
	return out
}
