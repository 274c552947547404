package xdstest

import (
	"context"
	"slices"

	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

var labels = map[string]string{
	resourcev3.ClusterType: "CDS", resourcev3.EndpointType: "EDS", resourcev3.ListenerType: "LDS",
	resourcev3.RouteType: "RDS", resourcev3.SecretType: "SDS",
}

// RunEnvoy connects a model Envoy (see Envoy) for nodeID over conn, with a
// state-of-the-world stream, or a Delta one, and runs it until ctx ends.
// Like Envoy, it subscribes to clusters first, to listeners once its
// clusters are warm, and ACKs every response once it has applied it.
func RunEnvoy(ctx context.Context, conn grpc.ClientConnInterface, nodeID string, delta bool) (*Envoy, error) {
	e := newEnvoy(nodeID)
	if delta {
		c, err := OpenDelta(ctx, conn, nodeID)
		if err != nil {
			return nil, err
		}
		if err := c.Subscribe(resourcev3.ClusterType, nil, nil); err != nil {
			return nil, err
		}
		go e.runDelta(c)
		return e, nil
	}
	c, err := Open(ctx, conn, nodeID)
	if err != nil {
		return nil, err
	}
	if err := c.Subscribe(resourcev3.ClusterType); err != nil {
		return nil, err
	}
	go e.runSotw(c)
	return e, nil
}

func (e *Envoy) stop(err error) {
	e.mu.Lock()
	e.err = err
	e.changed.Broadcast()
	e.mu.Unlock()
}

// sotwType is what a state-of-the-world stream remembers of a type.
type sotwType struct {
	version, nonce string
	names          []string
}

func (e *Envoy) runSotw(c *Client) {
	types := map[string]*sotwType{resourcev3.ClusterType: {}}
	request := func(typeURL string, st *sotwType) error {
		return c.stream.Send(&discoverypb.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: st.version, ResponseNonce: st.nonce, ResourceNames: st.names})
	}
	for {
		resp, err := c.Recv()
		if err != nil {
			e.stop(err)
			return
		}
		typeURL := resp.GetTypeUrl()
		var msgs []proto.Message
		for _, a := range resp.GetResources() {
			if m := unmarshal(a); m != nil {
				msgs = append(msgs, m)
			}
		}
		all := typeURL == resourcev3.ClusterType || typeURL == resourcev3.ListenerType
		e.apply(labels[typeURL], msgs, nil, all)
		st := types[typeURL]
		st.version, st.nonce = resp.GetVersionInfo(), resp.GetNonce()
		if err := request(typeURL, st); err != nil { // the ACK
			e.stop(err)
			return
		}
		// Then ask for what changed: endpoints of the clusters, route
		// configurations of the listeners, listeners once warm.
		wants, warm := e.wants()
		startListeners := types[resourcev3.ListenerType] == nil && warm
		for _, t := range []string{resourcev3.EndpointType, resourcev3.RouteType} {
			if types[t] == nil && len(wants[t]) == 0 {
				continue
			}
			if types[t] == nil {
				types[t] = &sotwType{}
			}
			if !slices.Equal(types[t].names, wants[t]) {
				types[t].names = wants[t]
				if err := request(t, types[t]); err != nil {
					e.stop(err)
					return
				}
			}
		}
		if startListeners {
			types[resourcev3.ListenerType] = &sotwType{}
			if err := request(resourcev3.ListenerType, types[resourcev3.ListenerType]); err != nil {
				e.stop(err)
				return
			}
		}
	}
}

func (e *Envoy) runDelta(c *DeltaClient) {
	subscribed := map[string][]string{}
	listening := false
	for {
		resp, err := c.Recv()
		if err != nil {
			e.stop(err)
			return
		}
		typeURL := resp.GetTypeUrl()
		var msgs []proto.Message
		for _, r := range resp.GetResources() {
			if m := unmarshal(r.GetResource()); m != nil {
				msgs = append(msgs, m)
			}
		}
		e.apply(labels[typeURL], msgs, resp.GetRemovedResources(), false)
		if err := c.Ack(resp); err != nil {
			e.stop(err)
			return
		}
		wants, warm := e.wants()
		startListeners := !listening && warm
		for _, t := range []string{resourcev3.EndpointType, resourcev3.RouteType} {
			add, drop := diff(subscribed[t], wants[t])
			if len(add)+len(drop) == 0 {
				continue
			}
			subscribed[t] = wants[t]
			if err := c.Subscribe(t, add, drop); err != nil {
				e.stop(err)
				return
			}
		}
		if startListeners {
			listening = true
			if err := c.Subscribe(resourcev3.ListenerType, nil, nil); err != nil {
				e.stop(err)
				return
			}
		}
	}
}

// wants is what Envoy asks for after a response: the endpoints of its EDS
// clusters and the route configurations its listeners name (forgetting
// those no listener names any more); and whether its clusters are warm,
// when it starts asking for listeners.
func (e *Envoy) wants() (map[string][]string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	routes := e.routeNames()
	for name := range e.routes {
		if !slices.Contains(routes, name) {
			delete(e.routes, name)
		}
	}
	return map[string][]string{resourcev3.EndpointType: e.edsNames(), resourcev3.RouteType: routes}, e.warm()
}

func diff(have, want []string) (add, drop []string) {
	for _, w := range want {
		if !slices.Contains(have, w) {
			add = append(add, w)
		}
	}
	for _, h := range have {
		if !slices.Contains(want, h) {
			drop = append(drop, h)
		}
	}
	return add, drop
}

func unmarshal(a *anypb.Any) proto.Message {
	if a == nil {
		return nil
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil
	}
	return m
}
