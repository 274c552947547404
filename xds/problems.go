package xds

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/translate"
)

// problemLog gathers the resources that the views of one snapshot did not
// serve because they failed their checks, as Problems naming the resource
// and, where the name tells, the object it came from. A shared resource is
// checked once, so it is reported once however many proxies hold it.
type problemLog struct {
	snap *discovery.Snapshot
	// known are the problems of the previous snapshot: only new ones are
	// logged, not every problem again at every change.
	known map[string]bool
	onNew func(discovery.Problem)

	mu    sync.Mutex
	byKey map[string]discovery.Problem
}

func newProblemLog(snap *discovery.Snapshot, prev *problemLog, onNew func(discovery.Problem)) *problemLog {
	l := &problemLog{snap: snap, known: map[string]bool{}, onNew: onNew, byKey: map[string]discovery.Problem{}}
	if prev != nil {
		for k := range prev.problems() {
			l.known[k] = true
		}
	}
	return l
}

// add reports that resource name of typeURL in proxy p's view was not
// served, and why.
func (l *problemLog) add(p translate.Proxy, typeURL, name string, why error) {
	kind, object, detail := origin(l.snap, p, typeURL, name)
	if detail != "" {
		detail = " (" + detail + ")"
	}
	prob := discovery.Problem{
		Source: "xds", Kind: kind, Name: object,
		Reason: fmt.Sprintf("%s %q%s: %v; not sent, so each proxy keeps its previous version of it", typeNoun(typeURL), name, detail, why),
	}
	key := typeURL + "\x00" + name + "\x00" + why.Error()
	l.mu.Lock()
	_, seen := l.byKey[key]
	l.byKey[key] = prob
	l.mu.Unlock()
	if !seen && !l.known[key] && l.onNew != nil {
		l.onNew(prob)
	}
}

func (l *problemLog) problems() map[string]discovery.Problem {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]discovery.Problem, len(l.byKey))
	for k, p := range l.byKey {
		out[k] = p
	}
	return out
}

// list is every problem, sorted for stable output.
func (l *problemLog) list() []discovery.Problem {
	byKey := l.problems()
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]discovery.Problem, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// origin maps a resource name back to what it was made from, using the
// names translate gives (translate/names.go): an outbound cluster and its
// endpoints to their Service (and subset), everything built for one proxy
// (inbound clusters, listeners, route tables) to that proxy's pod, a
// gateway certificate to its Secret.
func origin(snap *discovery.Snapshot, p translate.Proxy, typeURL, name string) (kind, object, detail string) {
	pod := p.Namespace + "/" + p.PodName
	switch typeURL {
	case resourcev3.ClusterType, resourcev3.EndpointType:
		if port, subset, host, ok := translate.ParseOutboundClusterName(name); ok {
			detail = fmt.Sprintf("port %d", port)
			if subset != "" {
				detail += ", subset " + subset + " of the DestinationRule for " + host
			}
			if svc := snap.ServiceByHost(host); svc != nil {
				return "Service", svc.Key(), detail
			}
			return "Service", host, detail
		}
	case resourcev3.SecretType:
		if cred, ok := strings.CutPrefix(name, translate.SecretNamePrefix); ok {
			return "Secret", p.Namespace + "/" + strings.TrimSuffix(cred, "-cacert"), "credentialName of a Gateway server"
		}
	}
	return "Pod", pod, "proxy " + p.NodeID()
}

func typeNoun(typeURL string) string {
	switch typeURL {
	case resourcev3.ClusterType:
		return "cluster"
	case resourcev3.EndpointType:
		return "endpoints"
	case resourcev3.ListenerType:
		return "listener"
	case resourcev3.RouteType:
		return "route configuration"
	case resourcev3.SecretType:
		return "secret"
	}
	return typeURL
}
