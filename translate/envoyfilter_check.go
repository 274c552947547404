package translate

import (
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// What a patched resource must pass before it is served, so that an
// EnvoyFilter can never make a proxy NACK: the resource's own Validate
// (Envoy's proto constraints), the same for every message inside an Any
// (TypedStruct values decoded into their type first, as Envoy does), and
// the rules Envoy checks in code that these cases break:
//   - an HTTP filter chain ends with the router, and only there;
//   - a network filter chain's terminal filter (the connection manager,
//     tcp_proxy) is its last;
//   - a route table names each virtual host once and each domain once;
//   - an inline route table (validate_clusters is on for them) routes
//     only to clusters the proxy has.

// validator is what every Envoy message generated with protoc-gen-validate has.
type validator interface{ ValidateAll() error }

func checkCluster(c *cluster.Cluster) error { return checkDeep(c) }

func (r *patchRun) checkListener(l *listener.Listener) error {
	if err := checkDeep(l); err != nil {
		return err
	}
	var err error
	eachChain(l, nil, func(fc *listener.FilterChain) bool {
		if err == nil {
			err = checkNetworkFilters(fc)
		}
		return false
	})
	if err != nil {
		return err
	}
	eachHCM(l, nil, func(m *hcm.HttpConnectionManager) bool {
		if err == nil {
			err = checkHTTPFilters(m)
		}
		if rc := m.GetRouteConfig(); rc != nil && err == nil {
			err = r.checkRouteConfig(rc, true)
		}
		return false
	})
	return err
}

// checkDeep runs Validate on a message and on every message inside an Any
// in it.
func checkDeep(m proto.Message) error {
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	return eachAny(m.ProtoReflect(), func(a *anypb.Any) error {
		inner, err := resolveAny(a)
		if err != nil {
			return err
		}
		if err := checkDeep(inner); err != nil {
			return fmt.Errorf("%s: %w", inner.ProtoReflect().Descriptor().FullName(), err)
		}
		return nil
	})
}

// eachAny calls fn on the Any fields of a message (not inside them).
func eachAny(m protoreflect.Message, fn func(*anypb.Any) error) error {
	var err error
	visit := func(v protoreflect.Value) {
		if err != nil {
			return
		}
		if a, ok := v.Message().Interface().(*anypb.Any); ok {
			err = fn(a)
			return
		}
		err = eachAny(v.Message(), fn)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				visit(v.List().Get(i))
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				visit(mv)
				return err == nil
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			visit(v)
		}
		return err == nil
	})
	return err
}

func checkHTTPFilters(m *hcm.HttpConnectionManager) error {
	for i, f := range m.HttpFilters {
		if f.GetTypedConfig() == nil && f.GetConfigDiscovery() == nil {
			return fmt.Errorf("HTTP filter %s has no typed_config", f.Name)
		}
		last := i == len(m.HttpFilters)-1
		switch router := isConfigOf[*routerv3.Router](f.GetTypedConfig()); {
		case router && !last:
			return fmt.Errorf("the router (%s) must be the last HTTP filter, but %s follows it", f.Name, m.HttpFilters[i+1].Name)
		case !router && last:
			return fmt.Errorf("the last HTTP filter (%s) is not the router", f.Name)
		}
	}
	if len(m.HttpFilters) == 0 {
		return fmt.Errorf("no HTTP filters: the router must be the last one")
	}
	return nil
}

func checkNetworkFilters(fc *listener.FilterChain) error {
	for i, f := range fc.Filters {
		terminal := isConfigOf[*hcm.HttpConnectionManager](f.GetTypedConfig()) || isConfigOf[*tcpproxy.TcpProxy](f.GetTypedConfig())
		if terminal && i != len(fc.Filters)-1 {
			return fmt.Errorf("filter chain %q: the terminal filter %s must be the last network filter, but %s follows it", fc.Name, f.Name, fc.Filters[i+1].Name)
		}
	}
	return nil
}

// isConfigOf reports whether an Any holds (or is a TypedStruct of) T.
func isConfigOf[T proto.Message](a *anypb.Any) bool {
	if a == nil {
		return false
	}
	var zero T
	want := string(zero.ProtoReflect().Descriptor().FullName())
	if typeURL, _, ok := typedStruct(a); ok {
		return typeURL == "type.googleapis.com/"+want
	}
	return a.GetTypeUrl() == "type.googleapis.com/"+want
}

// checkRouteConfig: unique virtual host names and domains, and for an
// inline table routes to existing clusters only.
func (r *patchRun) checkRouteConfig(rc *route.RouteConfiguration, inline bool) error {
	if err := checkDeep(rc); err != nil {
		return err
	}
	names, domains := map[string]bool{}, map[string]string{}
	for _, vh := range rc.VirtualHosts {
		if names[vh.Name] {
			return fmt.Errorf("two virtual hosts are named %s", vh.Name)
		}
		names[vh.Name] = true
		for _, d := range vh.Domains {
			if other, ok := domains[d]; ok {
				return fmt.Errorf("domain %s is in virtual hosts %s and %s", d, other, vh.Name)
			}
			domains[d] = vh.Name
		}
		if !inline {
			continue
		}
		for _, c := range routeClusters(vh) {
			if !r.clusters[c] {
				return fmt.Errorf("virtual host %s routes to cluster %s, which the proxy does not have", vh.Name, c)
			}
		}
	}
	return nil
}

// routeClusters are the clusters a virtual host's routes send to.
func routeClusters(vh *route.VirtualHost) []string {
	var out []string
	for _, rt := range vh.Routes {
		a := rt.GetRoute()
		if c := a.GetCluster(); c != "" {
			out = append(out, c)
		}
		for _, w := range a.GetWeightedClusters().GetClusters() {
			out = append(out, w.Name)
		}
	}
	return out
}

// listenerRouteClusters are the clusters the inline route tables of
// listeners send to, each with a listener that does.
func listenerRouteClusters(listeners []*listener.Listener) map[string]string {
	used := map[string]string{}
	for _, l := range listeners {
		eachHCM(l, nil, func(m *hcm.HttpConnectionManager) bool {
			for _, vh := range m.GetRouteConfig().GetVirtualHosts() {
				for _, c := range routeClusters(vh) {
					used[c] = l.Name
				}
			}
			return false
		})
	}
	return used
}
