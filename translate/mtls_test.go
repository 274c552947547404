package translate

import (
	"slices"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
)

func meshOf(pods ...*discovery.Pod) *Mesh {
	svc := &discovery.Service{Meta: discovery.Meta{Name: "web", Namespace: "shop"}, Hostname: "web.shop.svc.cluster.local",
		Ports: []discovery.ServicePort{{Name: "http", Port: 80, TargetPortNumber: 8080}}, Selector: map[string]string{"app": "web"}}
	snap := &discovery.Snapshot{Services: []*discovery.Service{svc}, Pods: pods, Endpoints: map[string][]*discovery.Endpoint{}}
	for _, p := range pods {
		snap.Endpoints[svc.Key()] = append(snap.Endpoints[svc.Key()], &discovery.Endpoint{Address: p.IP, PodName: p.Name, Ports: map[string]uint32{"http": 8080}, Ready: true})
	}
	return NewMesh(snap.Seal(), WithTrustDomain("example.org"))
}

func webPod(name, sa string) *discovery.Pod {
	return &discovery.Pod{Meta: discovery.Meta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "web"},
		Annotations: map[string]string{discovery.LocalAddressAnnotation: "127.20.0.1"}}, IP: "127.10.0." + name[len(name)-1:], ServiceAccount: sa, Ready: true}
}

// A pod of another service account joining a service changes only
// endpoints in the snapshot, but the clients' SAN check must change too.
func TestServiceIdentities(t *testing.T) {
	one := meshOf(webPod("web-1", "web"))
	two := meshOf(webPod("web-1", "web"), webPod("web-2", "web"))
	other := meshOf(webPod("web-1", "web"), webPod("web-3", "admin"))
	if got := one.serviceIdentities()["web.shop.svc.cluster.local"]; len(got) != 1 || got[0] != "spiffe://example.org/ns/shop/sa/web" {
		t.Errorf("identities %v", got)
	}
	if !SameServiceIdentities(one, two) {
		t.Error("another pod of the same account changed the identities")
	}
	if SameServiceIdentities(one, other) {
		t.Error("a pod of a new service account did not change the identities")
	}
	mixed := meshOf(webPod("web-1", "web"), webPod("web-2", "admin"), webPod("web-3", "web"), webPod("web-4", "admin"))
	want := []string{"spiffe://example.org/ns/shop/sa/admin", "spiffe://example.org/ns/shop/sa/web"}
	if got := mixed.serviceIdentities()["web.shop.svc.cluster.local"]; !slices.Equal(got, want) {
		t.Errorf("identities of pods of two accounts, interleaved: %v, want %v", got, want)
	}
	plain := webPod("web-4", "legacy")
	plain.Annotations = map[string]string{discovery.InjectLabel: "false"}
	if !SameServiceIdentities(one, meshOf(webPod("web-1", "web"), plain)) {
		t.Error("a pod without sidecar (plaintext) changed the mTLS identities")
	}
}

func TestOutboundSNI(t *testing.T) {
	if got := OutboundSNI(80, "", "a.b.svc.cluster.local"); got != "outbound_.80_._.a.b.svc.cluster.local" {
		t.Error(got)
	}
	if got := OutboundSNI(9080, "v2", "r.b.svc.cluster.local"); got != "outbound_.9080_.v2_.r.b.svc.cluster.local" {
		t.Error(got)
	}
}

// A mesh following another keeps the identities of a service whose
// endpoints are the very same list, and makes them again for one whose
// list is new (a Builder makes a new list when a pod it names changes).
func TestServiceIdentitiesFollowTheEndpointLists(t *testing.T) {
	first := meshOf(webPod("web-1", "web"))
	kept := first.serviceIdentities()["web.shop.svc.cluster.local"]
	same := *first.Snapshot()
	same.Version++
	if got := NewMeshFollowing(first, same.Seal(), WithTrustDomain("example.org")).serviceIdentities()["web.shop.svc.cluster.local"]; &got[0] != &kept[0] {
		t.Errorf("the same endpoint list: identities %v made again, want the earlier mesh's", got)
	}
	renewed := *meshOf(webPod("web-1", "admin")).Snapshot()
	next := NewMeshFollowing(first, renewed.Seal(), WithTrustDomain("example.org"))
	if got := next.serviceIdentities()["web.shop.svc.cluster.local"]; !slices.Equal(got, []string{"spiffe://example.org/ns/shop/sa/admin"}) {
		t.Errorf("a new endpoint list, its pod of account admin: identities %v", got)
	}
	if SameServiceIdentities(first, next) {
		t.Error("the pod's new account did not change the identities")
	}
	other := NewMeshFollowing(first, same.Seal(), WithTrustDomain("other.org"))
	if got := other.serviceIdentities()["web.shop.svc.cluster.local"]; !slices.Equal(got, []string{"spiffe://other.org/ns/shop/sa/web"}) {
		t.Errorf("another trust domain: identities %v", got)
	}
}
