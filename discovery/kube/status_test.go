package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	analysis "istio.io/api/analysis/v1alpha1"
	istiometa "istio.io/api/meta/v1alpha1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/pilotlight/pilotlight/discovery"
)

var (
	t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)

	missingSubset = discovery.Problem{Kind: "VirtualService", Name: "sock-shop/catalogue",
		Field: "spec.http[0].route[0].destination.subset", Reason: `subset "v3" is not defined`}
	badRegex = discovery.Problem{Kind: "VirtualService", Name: "sock-shop/catalogue",
		Field: "spec.http[1].match[0].uri.regex", Reason: "not a valid RE2 regex"}
)

// otherCondition is written by someone else, and must survive our writes.
func otherCondition() *istiometa.IstioCondition {
	return &istiometa.IstioCondition{Type: "Distributed", Status: "True"}
}

func TestStatusOfAnInvalidObject(t *testing.T) {
	current := &istiometa.IstioStatus{Conditions: []*istiometa.IstioCondition{otherCondition()}}
	got := Status(current, []discovery.Problem{missingSubset, badRegex}, 3, t0)

	want := &istiometa.IstioStatus{
		Conditions: []*istiometa.IstioCondition{otherCondition(), {
			Type:               "Reconciled",
			Status:             "False",
			Reason:             "InvalidConfig",
			Message:            `spec.http[0].route[0].destination.subset: subset "v3" is not defined; spec.http[1].match[0].uri.regex: not a valid RE2 regex`,
			ObservedGeneration: 3,
			LastTransitionTime: timestamppb.New(t0),
		}},
		ValidationMessages: []*analysis.AnalysisMessageBase{
			{Type: &analysis.AnalysisMessageBase_Type{Name: "ReferencedResourceNotFound", Code: "IST0101"}, Level: analysis.AnalysisMessageBase_ERROR},
			{Type: &analysis.AnalysisMessageBase_Type{Name: "SchemaValidationError", Code: "IST0106"}, Level: analysis.AnalysisMessageBase_ERROR},
		},
	}
	if !proto.Equal(got, want) {
		t.Errorf("status:\n got %v\nwant %v", got, want)
	}
	if len(current.Conditions) != 1 {
		t.Error("Status changed its argument")
	}
	// The same problems again: nothing to write.
	if again := Status(got, []discovery.Problem{missingSubset, badRegex}, 3, t1); again != nil {
		t.Errorf("status rewritten with nothing new: %v", again)
	}
}

func TestStatusOfAFixedObject(t *testing.T) {
	invalid := Status(nil, []discovery.Problem{missingSubset}, 1, t0)
	fixed := Status(invalid, nil, 2, t1)
	want := &istiometa.IstioStatus{Conditions: []*istiometa.IstioCondition{{
		Type: "Reconciled", Status: "True", Reason: "Accepted", ObservedGeneration: 2, LastTransitionTime: timestamppb.New(t1),
	}}}
	if !proto.Equal(fixed, want) {
		t.Errorf("status:\n got %v\nwant %v", fixed, want)
	}
	if again := Status(fixed, nil, 2, t1.Add(time.Hour)); again != nil {
		t.Errorf("status rewritten with nothing new: %v", again)
	}
}

func TestStatusLeavesValidObjectsAlone(t *testing.T) {
	if got := Status(&istiometa.IstioStatus{}, nil, 1, t0); got != nil {
		t.Errorf("a valid object without our condition gets status %v", got)
	}
	other := &istiometa.IstioStatus{Conditions: []*istiometa.IstioCondition{otherCondition()}}
	if got := Status(other, nil, 1, t0); got != nil {
		t.Errorf("a valid object with someone else's condition gets status %v", got)
	}
}

func TestStatusKeepsTransitionTimeWhileStillInvalid(t *testing.T) {
	first := Status(nil, []discovery.Problem{missingSubset}, 1, t0)
	// Another problem, same verdict: the message changes, the time does not.
	second := Status(first, []discovery.Problem{badRegex}, 2, t1)
	c := second.Conditions[0]
	if !c.LastTransitionTime.AsTime().Equal(t0) || c.ObservedGeneration != 2 || c.Message != badRegex.Field+": "+badRegex.Reason {
		t.Errorf("condition = %v", c)
	}
}

// The status as kubectl shows it: protojson is what the Istio types
// marshal with.
func TestStatusJSON(t *testing.T) {
	js, err := protojson.Marshal(Status(nil, []discovery.Problem{missingSubset}, 1, t0))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"validationMessages"`, `"level":"ERROR"`, `"code":"IST0101"`, `"reason":"InvalidConfig"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("%s lacks %s", js, want)
		}
	}
}

// The leader writes status with UpdateStatus, retries a conflict, clears
// the status once the object is fixed, and then writes no more.
func TestLeaderWritesStatus(t *testing.T) {
	kube, istio := meshObjects(routeToSubset("v3"))
	h := startSource(t, kube, istio)
	h.next()
	conflictOnce(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.src.WriteStatus(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	invalid := waitForCondition(t, h, "False")
	if invalid.Reason != ReasonInvalidConfig || invalid.Message != `spec.http[0].route[0].destination.subset: subset "v3" is not defined by any DestinationRule for host catalogue.sock-shop.svc.cluster.local` {
		t.Errorf("condition = %v", invalid)
	}
	if vs := getVirtualService(t, h); len(vs.Status.ValidationMessages) != 1 || vs.Status.ValidationMessages[0].GetType().GetCode() != CodeReferenceNotFound {
		t.Errorf("validationMessages = %v", vs.Status.ValidationMessages)
	}

	fixed := routeToSubset("v1")
	proto.Merge(&fixed.Status, &getVirtualService(t, h).Status) // an update carries the status along
	if _, err := h.istio.NetworkingV1().VirtualServices(ns).Update(context.Background(), fixed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	accepted := waitForCondition(t, h, "True")
	if accepted.Reason != ReasonAccepted || len(getVirtualService(t, h).Status.ValidationMessages) != 0 {
		t.Errorf("condition = %v, validationMessages = %v", accepted, getVirtualService(t, h).Status.ValidationMessages)
	}

	// Our own write comes back as an event and a build; it must not cause
	// another write.
	writes := statusWrites(h)
	built := h.src.report.Load()
	h.src.markDirty()
	h.waitForBuild(built)
	time.Sleep(50 * time.Millisecond)
	if n := statusWrites(h); n != writes {
		t.Errorf("%d more status writes once the status was right", n-writes)
	}
	// Three writes: the conflict, invalid, fixed.
	if writes != 3 {
		t.Errorf("%d status writes, want 3 (one conflict, invalid, accepted)", writes)
	}
}

// conflictOnce makes the first status write fail as if someone else had
// changed the object meanwhile.
func conflictOnce(h *harness) {
	conflicted := false
	h.istio.PrependReactor("update", "virtualservices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" || conflicted {
			return false, nil, nil
		}
		conflicted = true
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}, "catalogue", nil)
	})
}

func statusWrites(h *harness) int {
	n := 0
	for _, a := range append(h.istio.Actions(), h.dynamic.Actions()...) {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func getVirtualService(t *testing.T, h *harness) *istiov1.VirtualService {
	t.Helper()
	vs, err := h.istio.NetworkingV1().VirtualServices(ns).Get(context.Background(), "catalogue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// waitForCondition waits until the VirtualService's Reconciled condition
// has the given status, and returns it.
func waitForCondition(t *testing.T, h *harness, status string) *istiometa.IstioCondition {
	t.Helper()
	var c *istiometa.IstioCondition
	eventually(t, "condition Reconciled="+status, func() bool {
		vs := getVirtualService(t, h)
		i := conditionIndex(&vs.Status)
		if i < 0 {
			return false
		}
		c = vs.Status.Conditions[i]
		return c.Status == status
	})
	return c
}
