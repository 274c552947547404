package ratelimit

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/discovery"
)

// Server serves the envoyproxy/ratelimit service its limits over xDS (the
// service's CONFIG_TYPE=GRPC_XDS_SOTW mode): an ADS server, apart from the
// proxies' one, answering RateLimitConfig requests from a go-control-plane
// SnapshotCache. Every instance of the service, whatever node id it sends
// (CONFIG_GRPC_XDS_NODE_ID), gets the limits of every policy: they count
// in shared Redis, so they must all know all domains.
//
// Why a server of its own: the proxies' ADS server (package xds) builds a
// view per proxy identity, and data flows one way (ratelimit does not
// import xds). This one has a single view, the same snapshot's limits that
// the proxies' ratelimit filters were built from.
//
// Until the first snapshot nothing is sent, so a service that reconnects
// to a restarted pilotlight keeps the limits it has.
type Server struct {
	log    *slog.Logger
	cache  cachev3.SnapshotCache
	xds    serverv3.Server
	cb     *serviceCallbacks
	prefix string

	mu      sync.Mutex
	version string // of the configs last set, "" before the first
}

// cacheNode is the one key of the cache: every service instance shares it.
const cacheNode = "ratelimit"

type oneNode struct{}

func (oneNode) ID(*corev3.Node) string { return cacheNode }

// NewServer builds a Server; Register it on a gRPC server and call Update
// with each snapshot.
func NewServer(ctx context.Context, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	c := cachev3.NewSnapshotCache(true, oneNode{}, nil)
	cb := newServiceCallbacks(log)
	return &Server{
		log:    log,
		cache:  c,
		xds:    serverv3.NewServer(ctx, c, cb),
		cb:     cb,
		prefix: strconv.FormatInt(time.Now().UnixNano(), 36),
	}
}

// Register adds the ADS service to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// Update serves the limits of a snapshot; an unchanged set is not resent.
func (s *Server) Update(snap *discovery.Snapshot) {
	configs := ServiceConfigs(snap)
	version, err := configsVersion(s.prefix, configs)
	if err != nil {
		s.log.Error("rate-limit service config: cannot marshal", "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if version == s.version {
		return
	}
	resources := make([]types.Resource, len(configs))
	domains := make([]string, len(configs))
	for i, c := range configs {
		resources[i] = c
		domains[i] = c.Domain
	}
	cs, err := cachev3.NewSnapshot(version, map[resourcev3.Type][]types.Resource{resourcev3.RateLimitConfigType: resources})
	if err == nil {
		err = s.cache.SetSnapshot(context.Background(), cacheNode, cs)
	}
	if err != nil {
		s.log.Error("rate-limit service config: cannot set", "error", err)
		return
	}
	s.version = version
	s.log.Info("rate-limit service config", "version", version, "domains", domains)
}

// Version is the version of the limits being served, "" before the first
// snapshot.
func (s *Server) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Services is the state of every connected rate-limit service instance.
func (s *Server) Services() []ServiceStatus { return s.cb.status() }

// configsVersion: the process prefix and a hash of the marshaled configs,
// so that equal limits keep their version.
func configsVersion[T proto.Message](prefix string, configs []T) (string, error) {
	h := fnv.New64a()
	for _, c := range configs {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%s-%016x", prefix, h.Sum64()), nil
}
