package load

import (
	"sync"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The simulated sidecars read only what Envoy needs to decide what to ask
// for next (a cluster's name and whether it is EDS, a load assignment's or
// route table's name), straight from the wire bytes: two thousand of them
// share the machine with the server they measure. What a change is about
// is decoded in full (one resource).

// field numbers, read from Envoy's descriptors rather than written down.
var (
	clusterName       = fieldNumber(&cluster.Cluster{}, "name")
	clusterType       = fieldNumber(&cluster.Cluster{}, "type")
	clusterEDSConfig  = fieldNumber(&cluster.Cluster{}, "eds_cluster_config")
	edsServiceName    = fieldNumber(&cluster.Cluster_EdsClusterConfig{}, "service_name")
	claClusterName    = fieldNumber(&endpoint.ClusterLoadAssignment{}, "cluster_name")
	routeConfigName   = fieldNumber(&route.RouteConfiguration{}, "name")
	routeVirtualHosts = fieldNumber(&route.RouteConfiguration{}, "virtual_hosts")
	virtualHostName   = fieldNumber(&route.VirtualHost{}, "name")
	secretName        = fieldNumber(&tlsv3.Secret{}, "name")
	clusterSocket     = fieldNumber(&cluster.Cluster{}, "transport_socket")
	clusterMatches    = fieldNumber(&cluster.Cluster{}, "transport_socket_matches")
	matchSocket       = fieldNumber(&cluster.Cluster_TransportSocketMatch{}, "transport_socket")
	edsType           = protowire.Number(cluster.Cluster_EDS)
)

func fieldNumber(m proto.Message, name string) protowire.Number {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic("load: no field " + name)
	}
	return fd.Number()
}

// eachField calls fn with every top-level field of a message's bytes, until
// fn returns false. Malformed bytes end the walk.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) bool) {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return
		}
		b = b[l:]
		if !fn(num, typ, v, n) {
			return
		}
	}
}

// stringField is the first occurrence of a string field.
func stringField(b []byte, want protowire.Number) []byte {
	var out []byte
	eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		if num == want && typ == protowire.BytesType {
			out = v
			return false
		}
		return true
	})
	return out
}

// clusterNeeds reads what a cluster makes Envoy ask for: the name under
// which an EDS cluster asks for its endpoints (eds_cluster_config
// .service_name, else its own name; nil when it is not EDS), and the bytes
// of its transport sockets, whose TLS contexts name SDS secrets.
func clusterNeeds(b []byte) (edsName []byte, sockets [][]byte) {
	var name, svc []byte
	eds := false
	eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) bool {
		switch {
		case num == clusterName && typ == protowire.BytesType:
			name = v
		case num == clusterType && typ == protowire.VarintType:
			eds = protowire.Number(n) == edsType
		case num == clusterEDSConfig && typ == protowire.BytesType:
			svc = stringField(v, edsServiceName)
		case num == clusterSocket && typ == protowire.BytesType:
			sockets = append(sockets, v)
		case num == clusterMatches && typ == protowire.BytesType:
			if ts := bytesField(v, matchSocket); ts != nil {
				sockets = append(sockets, ts)
			}
		}
		return true
	})
	if !eds {
		return nil, sockets
	}
	if len(svc) > 0 {
		return svc, sockets
	}
	return name, sockets
}

func bytesField(b []byte, want protowire.Number) []byte { return stringField(b, want) }

// secretsOf are the SDS secrets a transport socket's TLS context names.
// Thousands of clusters carry the same few sockets: each is read once, for
// all sidecars.
type secretsOf struct {
	mu   sync.Mutex
	seen map[string][]string
}

func newSecretsOf() *secretsOf { return &secretsOf{seen: map[string][]string{}} }

func (c *secretsOf) socket(b []byte) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if names, ok := c.seen[string(b)]; ok {
		return names
	}
	ts := &core.TransportSocket{}
	var names []string
	if proto.Unmarshal(b, ts) == nil {
		names = tlsSecrets(ts)
	}
	c.seen[string(b)] = names
	return names
}

func tlsSecrets(ts *core.TransportSocket) []string {
	var common *tlsv3.CommonTlsContext
	switch m, _ := ts.GetTypedConfig().UnmarshalNew(); ctx := m.(type) {
	case *tlsv3.UpstreamTlsContext:
		common = ctx.GetCommonTlsContext()
	case *tlsv3.DownstreamTlsContext:
		common = ctx.GetCommonTlsContext()
	default:
		return nil
	}
	var out []string
	for _, sds := range common.GetTlsCertificateSdsSecretConfigs() {
		out = append(out, sds.GetName())
	}
	if sds := common.GetValidationContextSdsSecretConfig(); sds != nil {
		out = append(out, sds.GetName())
	}
	if sds := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); sds != nil {
		out = append(out, sds.GetName())
	}
	return out
}

// virtualHostBytes finds a virtual host of a route table by name.
func virtualHostBytes(rc []byte, name string) []byte {
	var out []byte
	eachField(rc, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		if num == routeVirtualHosts && typ == protowire.BytesType && string(stringField(v, virtualHostName)) == name {
			out = v
			return false
		}
		return true
	})
	return out
}

// listenerNeeds are the route tables (RDS) a listener's HTTP connection
// managers name, and the SDS secrets of its TLS contexts: what Envoy asks
// for once it has the listener.
func listenerNeeds(b []byte) (routes, secrets []string) {
	l := &listener.Listener{}
	if proto.Unmarshal(b, l) != nil {
		return nil, nil
	}
	chains := append([]*listener.FilterChain{l.GetDefaultFilterChain()}, l.GetFilterChains()...)
	for _, fc := range chains {
		if ts := fc.GetTransportSocket(); ts != nil {
			secrets = append(secrets, tlsSecrets(ts)...)
		}
		for _, f := range fc.GetFilters() {
			cfg := &hcm.HttpConnectionManager{}
			if f.GetTypedConfig().MessageIs(cfg) && f.GetTypedConfig().UnmarshalTo(cfg) == nil {
				if name := cfg.GetRds().GetRouteConfigName(); name != "" {
					routes = append(routes, name)
				}
			}
		}
	}
	return routes, secrets
}

// names interns resource names, and numbers them, for all sidecars: two
// thousand sidecars holding three thousand names each would otherwise keep
// six million copies.
type names struct {
	mu   sync.RWMutex
	ids  map[string]int32
	list []string
}

func newNames() *names { return &names{ids: map[string]int32{}} }

// id is the number of a name, given as bytes (looked up without copying).
func (n *names) id(b []byte) int32 {
	n.mu.RLock()
	id, ok := n.ids[string(b)]
	n.mu.RUnlock()
	if ok {
		return id
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if id, ok := n.ids[string(b)]; ok {
		return id
	}
	s := string(b)
	id = int32(len(n.list))
	n.ids[s] = id
	n.list = append(n.list, s)
	return id
}

func (n *names) idOf(s string) int32 { return n.id([]byte(s)) }

func (n *names) name(id int32) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.list[id]
}

// bitset is a set of name ids.
type bitset []uint64

func (b *bitset) add(id int32) {
	for int(id/64) >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[id/64] |= 1 << (id % 64)
}

func (b bitset) has(id int32) bool { return int(id/64) < len(b) && b[id/64]&(1<<(id%64)) != 0 }

func (b bitset) remove(id int32) {
	if int(id/64) < len(b) {
		b[id/64] &^= 1 << (id % 64)
	}
}
