package kube

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

// TestRBACGrantsWhatTheSourceUses runs the source, the status writer and
// the election against fake clientsets, and checks that deploy/rbac.yaml
// allows every request they made: so that a kind added to the informers
// without its RBAC rule fails here, not in a cluster.
func TestRBACGrantsWhatTheSourceUses(t *testing.T) {
	clusterRole, leaseRole := readRBAC(t, "../../deploy/rbac.yaml")

	kube, istio := meshObjects(routeToSubset("v3")) // invalid: status is written
	istio = append(istio, invalidGateway(), invalidDestinationRule(), invalidAuthorizationPolicy(), invalidRequestAuthentication())
	h := startSource(t, kube, istio, invalidRateLimitPolicy())
	h.next()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.src.WriteStatus(ctx) }()
	eventually(t, "status on the six invalid objects", func() bool { return statusWrites(h) >= 6 })
	cancel()
	<-done

	var requests []k8stesting.Action
	requests = append(requests, h.kube.Actions()...)
	requests = append(requests, h.istio.Actions()...)
	requests = append(requests, h.dynamic.Actions()...)
	for _, a := range requests {
		if a.GetVerb() == "get" && a.GetResource().Resource == "resource" {
			continue // API discovery, which the system:discovery ClusterRole grants everyone
		}
		if !allows(clusterRole.Rules, a) {
			t.Errorf("ClusterRole %s does not allow %s", clusterRole.Name, describe(a))
		}
	}
	for _, a := range electionRequests(t) {
		if !allows(leaseRole.Rules, a) {
			t.Errorf("Role %s does not allow %s", leaseRole.Name, describe(a))
		}
	}
}

func invalidGateway() *istiov1.Gateway {
	return &istiov1.Gateway{ObjectMeta: objectMeta("no-servers", nil)}
}

func invalidDestinationRule() *istiov1.DestinationRule {
	return &istiov1.DestinationRule{
		ObjectMeta: objectMeta("no-labels", nil),
		Spec:       networking.DestinationRule{Host: "catalogue", Subsets: []*networking.Subset{{Name: "v1"}}},
	}
}

// electionRequests are the requests of a replica winning the election and
// giving the lease up.
func electionRequests(t *testing.T) []k8stesting.Action {
	client := kubefake.NewClientset()
	e, err := NewElector(LeaderOptions{Client: client, Namespace: "pilotlight-system", Name: "pilotlight-status", Identity: "a",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.Run(ctx, func(context.Context) { cancel() })
	return client.Actions()
}

// readRBAC decodes the ClusterRole and the Role of rbac.yaml, strictly.
func readRBAC(t *testing.T, path string) (cluster *rbacv1.ClusterRole, role *rbacv1.Role) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		var into runtime.Object
		switch head.Kind {
		case "ClusterRole":
			cluster = &rbacv1.ClusterRole{}
			into = cluster
		case "Role":
			role = &rbacv1.Role{}
			into = role
		default:
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			t.Fatalf("%s: %v", head.Kind, err)
		}
	}
	if cluster == nil || role == nil {
		t.Fatalf("%s lacks a ClusterRole or a Role", path)
	}
	return cluster, role
}

func allows(rules []rbacv1.PolicyRule, a k8stesting.Action) bool {
	resource := a.GetResource().Resource
	if sub := a.GetSubresource(); sub != "" {
		resource += "/" + sub
	}
	for _, r := range rules {
		if slices.Contains(r.APIGroups, a.GetResource().Group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, a.GetVerb()) {
			return true
		}
	}
	return false
}

func describe(a k8stesting.Action) string {
	gr := a.GetResource().GroupResource().String()
	if sub := a.GetSubresource(); sub != "" {
		gr += "/" + sub
	}
	return a.GetVerb() + " " + gr
}
