package kube

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	analysis "istio.io/api/analysis/v1alpha1"
	istiometa "istio.io/api/meta/v1alpha1"

	"github.com/pilotlight/pilotlight/discovery"
)

// The status pilotlight writes on the Istio objects it reads, so that
// `kubectl get -o yaml` explains why a rule does nothing. The names follow
// Istio's own status conditions and analyzer messages.
const (
	ConditionReconciled = "Reconciled"
	ReasonInvalidConfig = "InvalidConfig"
	ReasonAccepted      = "Accepted"

	// CodeReferenceNotFound marks a reference to a subset or host that does
	// not exist; CodeInvalid (Istio's SchemaValidationError) any other problem.
	CodeReferenceNotFound = "IST0101"
	CodeInvalid           = "IST0106"
)

// Status returns the status an object should carry given its problems, or
// nil when current already says so. current is not changed.
//
// An invalid object gets our condition (False) and one validation message
// per problem. A valid object is left alone unless it carries our condition,
// which then turns True and its messages are cleared: a status says why a
// rule was refused, and a rule we never refused needs no word from us.
// Conditions written by others are kept.
func Status(current *istiometa.IstioStatus, problems []discovery.Problem, generation int64, now time.Time) *istiometa.IstioStatus {
	if current == nil {
		current = &istiometa.IstioStatus{}
	}
	i := conditionIndex(current)
	if len(problems) == 0 && i < 0 {
		return nil
	}
	cond, messages := wantedStatus(problems, generation)
	if i >= 0 && sameCondition(current.Conditions[i], cond) && sameMessages(current.ValidationMessages, messages) {
		return nil
	}
	out := proto.Clone(current).(*istiometa.IstioStatus)
	if i >= 0 {
		cond.LastTransitionTime = transitionTime(current.Conditions[i], cond.Status, now)
		out.Conditions[i] = cond
	} else {
		cond.LastTransitionTime = timestamppb.New(now)
		out.Conditions = append(out.Conditions, cond)
	}
	out.ValidationMessages = messages
	return out
}

// transitionTime is when the condition last changed status: now, unless
// the old condition already had this status.
func transitionTime(old *istiometa.IstioCondition, status string, now time.Time) *timestamppb.Timestamp {
	if old.GetStatus() == status && old.GetLastTransitionTime() != nil {
		return proto.Clone(old.LastTransitionTime).(*timestamppb.Timestamp)
	}
	return timestamppb.New(now)
}

// wantedStatus is our condition and the validation messages for an object
// with these problems.
func wantedStatus(problems []discovery.Problem, generation int64) (*istiometa.IstioCondition, []*analysis.AnalysisMessageBase) {
	cond := &istiometa.IstioCondition{Type: ConditionReconciled, ObservedGeneration: generation}
	if len(problems) == 0 {
		cond.Status, cond.Reason = "True", ReasonAccepted
		return cond, nil
	}
	cond.Status, cond.Reason = "False", ReasonInvalidConfig
	var reasons []string
	var messages []*analysis.AnalysisMessageBase
	for _, p := range problems {
		reasons = append(reasons, problemText(p))
		messages = append(messages, validationMessage(p))
	}
	cond.Message = strings.Join(reasons, "; ")
	return cond, messages
}

// problemText is "<field>: <reason>", or the reason alone for a problem
// with the whole object.
func problemText(p discovery.Problem) string {
	if p.Field == "" {
		return p.Reason
	}
	return p.Field + ": " + p.Reason
}

func validationMessage(p discovery.Problem) *analysis.AnalysisMessageBase {
	t := &analysis.AnalysisMessageBase_Type{Name: "SchemaValidationError", Code: CodeInvalid}
	if missingReference(p) {
		t = &analysis.AnalysisMessageBase_Type{Name: "ReferencedResourceNotFound", Code: CodeReferenceNotFound}
	}
	return &analysis.AnalysisMessageBase{Type: t, Level: analysis.AnalysisMessageBase_ERROR}
}

// missingReference reports whether a problem is a destination naming a
// subset or host that does not exist (a host that is merely not written is
// not a reference to anything).
func missingReference(p discovery.Problem) bool {
	switch {
	case strings.HasSuffix(p.Field, ".destination.subset"):
		return true
	case strings.HasSuffix(p.Field, ".destination.host"):
		return p.Reason != "host is required"
	}
	return false
}

// conditionIndex is the index of our condition in status, or -1.
func conditionIndex(status *istiometa.IstioStatus) int {
	for i, c := range status.GetConditions() {
		if c.GetType() == ConditionReconciled {
			return i
		}
	}
	return -1
}

// sameCondition compares what a condition says, not when it was written.
func sameCondition(a, b *istiometa.IstioCondition) bool {
	return a.GetType() == b.GetType() && a.GetStatus() == b.GetStatus() && a.GetReason() == b.GetReason() &&
		a.GetMessage() == b.GetMessage() && a.GetObservedGeneration() == b.GetObservedGeneration()
}

func sameMessages(a, b []*analysis.AnalysisMessageBase) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
