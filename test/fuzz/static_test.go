package fuzz

// Envoy as the oracle: one proxy's view, as the control plane would push it
// over ADS, written as a static bootstrap and checked by the real Envoy
// with `envoy --mode validate`, which builds every listener, route table
// and cluster the way it would on a push (it compiles the regexes, checks
// every proto constraint, binds nothing and connects nowhere).
//
// The view is made static the way Envoy would have put it together:
// clusters fed by EDS get their ClusterLoadAssignment inline, a listener's
// RDS route table is inlined into its HTTP connection manager, and secrets
// named over SDS become static secrets of the same name. The mesh's own
// secrets (a workload's "default" certificate and "ROOTCA"), which
// pilotlight issues per connection rather than in the view, are stood in
// for by a throwaway certificate.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate"
)

// staticBootstrap turns a proxy's view into one static bootstrap. The view
// is not changed (its resources are shared with other views). certPEM and
// keyPEM stand in for the secrets the view names but does not hold.
func staticBootstrap(nodeID string, res *translate.Resources, certPEM, keyPEM []byte) (*bootstrap.Bootstrap, error) {
	routes := map[string]*route.RouteConfiguration{}
	for _, r := range res.Routes {
		routes[r.Name] = r
	}
	endpoints := map[string]*endpoint.ClusterLoadAssignment{}
	for _, e := range res.LoadAssignments {
		endpoints[e.ClusterName] = e
	}
	static := &bootstrap.Bootstrap_StaticResources{}
	named := sdsNames{}
	for _, c := range res.Clusters {
		c = proto.Clone(c).(*cluster.Cluster)
		if c.GetType() == cluster.Cluster_EDS {
			c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}
			c.EdsClusterConfig = nil
			c.LoadAssignment = &endpoint.ClusterLoadAssignment{ClusterName: c.Name}
			if cla := endpoints[c.Name]; cla != nil {
				c.LoadAssignment = proto.Clone(cla).(*endpoint.ClusterLoadAssignment)
			}
		}
		if err := inline(c.ProtoReflect(), routes, named); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		static.Clusters = append(static.Clusters, c)
	}
	for _, l := range res.Listeners {
		l = proto.Clone(l).(*listener.Listener)
		if err := inline(l.ProtoReflect(), routes, named); err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		static.Listeners = append(static.Listeners, l)
	}
	held := map[string]bool{}
	for _, s := range res.Secrets {
		static.Secrets = append(static.Secrets, proto.Clone(s).(*tlsv3.Secret))
		held[s.Name] = true
	}
	for _, name := range sortedKeys(named) {
		if !held[name] {
			static.Secrets = append(static.Secrets, standIn(name, named[name], certPEM, keyPEM))
		}
	}
	return &bootstrap.Bootstrap{
		Node:            &core.Node{Id: nodeID, Cluster: "fuzz"},
		StaticResources: static,
	}, nil
}

var (
	hcmName       = (&hcm.HttpConnectionManager{}).ProtoReflect().Descriptor().FullName()
	sdsName       = (&tlsv3.SdsSecretConfig{}).ProtoReflect().Descriptor().FullName()
	tlsContextDef = (&tlsv3.CommonTlsContext{}).ProtoReflect().Descriptor().FullName()
)

// sdsNames records, by name, whether an SDS secret is used as a
// certificate (true) or to validate peers (false).
type sdsNames map[string]bool

// note records the SDS secrets a TLS context names.
func (n sdsNames) note(c *tlsv3.CommonTlsContext) {
	for _, s := range c.GetTlsCertificateSdsSecretConfigs() {
		n[s.GetName()] = true
	}
	if name := c.GetValidationContextSdsSecretConfig().GetName(); name != "" {
		n[name] = false
	}
	if name := c.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName(); name != "" {
		n[name] = false
	}
}

// standIn is a static secret for an SDS name the view does not hold.
func standIn(name string, certificate bool, certPEM, keyPEM []byte) *tlsv3.Secret {
	inline := func(b []byte) *core.DataSource {
		return &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: b}}
	}
	if certificate {
		return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inline(certPEM), PrivateKey: inline(keyPEM)}}}
	}
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: inline(certPEM)}}}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// inline walks a message, through the Any fields extensions are packed in,
// and replaces RDS by the route table it names and SDS by the static
// secret of the same name.
func inline(m protoreflect.Message, routes map[string]*route.RouteConfiguration, named sdsNames) error {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: %w", a.TypeUrl, err)
		}
		if err := inline(inner.ProtoReflect(), routes, named); err != nil {
			return err
		}
		a.Value, err = proto.MarshalOptions{Deterministic: true}.Marshal(inner)
		return err
	}
	switch m.Descriptor().FullName() {
	case hcmName:
		h := m.Interface().(*hcm.HttpConnectionManager)
		if rds := h.GetRds(); rds != nil {
			rc := routes[rds.RouteConfigName]
			if rc == nil {
				return fmt.Errorf("route table %q is not in the view", rds.RouteConfigName)
			}
			h.RouteSpecifier = &hcm.HttpConnectionManager_RouteConfig{RouteConfig: proto.Clone(rc).(*route.RouteConfiguration)}
		}
	case tlsContextDef:
		named.note(m.Interface().(*tlsv3.CommonTlsContext))
	case sdsName:
		m.Interface().(*tlsv3.SdsSecretConfig).SdsConfig = nil
		return nil
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = inline(v.List().Get(i).Message(), routes, named)
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					err = inline(mv.Message(), routes, named)
				}
				return err == nil
			})
		default:
			err = inline(v.Message(), routes, named)
		}
		return err == nil
	})
	return err
}

// envoyValidate writes the bootstrap into dir and has Envoy validate it.
// It returns Envoy's complaint, if it has one.
func envoyValidate(envoy, dir, name string, b *bootstrap.Bootstrap) error {
	js, err := protojson.MarshalOptions{Indent: "  "}.Marshal(b)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		return err
	}
	// Validation takes about 0.2 s; a minute means Envoy is stuck, which is
	// reported, not waited for.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, envoy, "--mode", "validate", "-c", path, "--disable-hot-restart",
		"--concurrency", "1", "--log-level", "error").CombinedOutput()
	if err != nil {
		return fmt.Errorf("envoy --mode validate -c %s: %v: %s", path, err, lastLines(string(out), 5))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
