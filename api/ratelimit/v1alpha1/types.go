// Package v1alpha1 holds the Go types of pilotlight's own rate-limit policy,
// RateLimitPolicy in API group ratelimit.pilotlight.io (the CRD is
// deploy/crds/ratelimit.pilotlight.io_ratelimitpolicies.yaml).
//
// Istio has no rate-limit API; its tutorials patch Envoy with EnvoyFilters.
// A RateLimitPolicy says the same in one object that configures both sides
// of a global limit: Envoy's rate_limits actions and the descriptors of the
// envoyproxy/ratelimit service, which pilotlight serves to it over xDS from
// the same snapshot. The rule shape follows Envoy Gateway's
// BackendTrafficPolicy rateLimit (clientSelectors, limit), so that users of
// either find their way.
//
//	apiVersion: ratelimit.pilotlight.io/v1alpha1
//	kind: RateLimitPolicy
//	metadata: {name: plans, namespace: istio-system}
//	spec:
//	  selector: {matchLabels: {istio: ingressgateway}}
//	  global:
//	    rules:
//	    - clientSelectors:
//	      - headers:
//	        - {name: x-plan, value: BASIC}
//	        - {name: x-account, type: Distinct}
//	      limit: {requests: 1, unit: Minute}
package v1alpha1

import (
	"regexp"
	"strings"

	istiometa "istio.io/api/meta/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is ratelimit.pilotlight.io/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "ratelimit.pilotlight.io", Version: "v1alpha1"}

// Resource is the plural resource name of RateLimitPolicy.
var Resource = GroupVersion.WithResource("ratelimitpolicies")

// Kind is the kind of a RateLimitPolicy.
const Kind = "RateLimitPolicy"

// RateLimitPolicy limits the requests that the proxies it selects accept.
type RateLimitPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec RateLimitPolicySpec `json:"spec"`
	// Status is written by pilotlight in Istio's shape (a Reconciled
	// condition and one validation message per problem), as on
	// VirtualServices.
	Status *istiometa.IstioStatus `json:"status,omitempty"`
}

// RateLimitPolicySpec says where the limits apply and what they are.
type RateLimitPolicySpec struct {
	// Selector picks the pods of the policy's namespace whose proxies
	// enforce it: a sidecar on its inbound side (requests to the workload),
	// a gateway on every HTTP server it serves. Unset (and no targetRefs):
	// every pod of the namespace.
	Selector *WorkloadSelector `json:"selector,omitempty"`
	// TargetRefs name Istio Gateways of the policy's namespace instead: the
	// limits apply to those Gateways' servers, on the gateway pods the
	// Gateways select. Only one of selector and targetRefs may be set.
	TargetRefs []TargetRef `json:"targetRefs,omitempty"`

	// Local limits are token buckets in each proxy: every Envoy counts on
	// its own (Envoy's local_ratelimit filter).
	Local *LocalRateLimit `json:"local,omitempty"`
	// Global limits are counted by the envoyproxy/ratelimit service, shared
	// by every proxy of the policy (Envoy's ratelimit filter).
	Global *GlobalRateLimit `json:"global,omitempty"`
}

// WorkloadSelector selects pods by their labels, as a Service does.
type WorkloadSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// TargetRef names an object the policy applies to. Only Istio Gateways
// (group networking.istio.io, kind Gateway) are supported.
type TargetRef struct {
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

// LocalRateLimit is a set of token buckets in each proxy.
type LocalRateLimit struct {
	Rules []Rule `json:"rules"`
	// ResponseHeaders are added to every response the limit refused (a 429);
	// default: x-local-rate-limit: true.
	ResponseHeaders []Header `json:"responseHeaders,omitempty"`
}

// GlobalRateLimit is a set of limits the rate-limit service counts.
type GlobalRateLimit struct {
	Rules []Rule `json:"rules"`
	// Service is the rate-limit service's gRPC port as "host:port", a
	// Service of the mesh (default
	// ratelimit.pilotlight-system.svc.cluster.local:8081). Pilotlight serves
	// every policy's limits to the services that connect to it.
	Service string `json:"service,omitempty"`
	// FailureMode is what happens to a request when the service cannot be
	// asked: Allow (fail open, the default) or Deny (fail closed, 500).
	FailureMode FailureMode `json:"failureMode,omitempty"`
	// Timeout of one call to the service (default 1s).
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// FailureMode is Allow or Deny.
type FailureMode string

// The failure modes.
const (
	FailOpen   FailureMode = "Allow"
	FailClosed FailureMode = "Deny"
)

// Rule is one limit and the requests it counts.
type Rule struct {
	// ClientSelectors pick the requests the rule counts: all of them must
	// match (none: every request).
	ClientSelectors []ClientSelector `json:"clientSelectors,omitempty"`
	Limit           Limit            `json:"limit"`
}

// ClientSelector matches requests; every part that is set must match.
type ClientSelector struct {
	Headers    []HeaderMatch `json:"headers,omitempty"`
	SourceCIDR *SourceMatch  `json:"sourceCIDR,omitempty"`
	Path       *PathMatch    `json:"path,omitempty"`
	// Methods: the request's method is one of these.
	Methods []string `json:"methods,omitempty"`
}

// MatchType is how a header or a source address is matched.
type MatchType string

// The match types.
const (
	// Exact: the value equals value (the default).
	Exact MatchType = "Exact"
	// RegularExpression: the value matches value, an RE2 regex.
	RegularExpression MatchType = "RegularExpression"
	// Distinct: every value gets a bucket of its own (global limits, and
	// local header limits).
	Distinct MatchType = "Distinct"
	// PathPrefix: the path starts with value (path matches only).
	PathPrefix MatchType = "PathPrefix"
)

// HeaderMatch matches one request header. A request without the header
// does not match (unless inverted).
type HeaderMatch struct {
	Name  string    `json:"name"`
	Type  MatchType `json:"type,omitempty"`
	Value *string   `json:"value,omitempty"`
	// Invert: match requests whose header is missing or does not match
	// (Exact and RegularExpression only).
	Invert bool `json:"invert,omitempty"`
}

// SourceMatch matches the client's address against a CIDR: Exact counts
// the whole range in one bucket, Distinct gives each address of the range
// its own.
type SourceMatch struct {
	Type  MatchType `json:"type,omitempty"`
	Value string    `json:"value"`
}

// PathMatch matches the request path: Exact, PathPrefix or
// RegularExpression.
type PathMatch struct {
	Type  MatchType `json:"type,omitempty"`
	Value string    `json:"value"`
}

// Limit is a number of requests per unit of time.
type Limit struct {
	Requests uint32    `json:"requests"`
	Unit     LimitUnit `json:"unit"`
}

// LimitUnit is Second, Minute, Hour or Day.
type LimitUnit string

// The units.
const (
	Second LimitUnit = "Second"
	Minute LimitUnit = "Minute"
	Hour   LimitUnit = "Hour"
	Day    LimitUnit = "Day"
)

// Header is a response header.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// GetGlobalService is spec.global.service, or "" when unset.
func (s *RateLimitPolicySpec) GetGlobalService() string {
	if s == nil || s.Global == nil {
		return ""
	}
	return s.Global.Service
}

// PathRegex is the RE2 regex (matched against the whole :path header) of
// an Exact or RegularExpression path match: the query string, if any, is
// not part of the path, so it may follow.
func (m *PathMatch) PathRegex() string {
	re := m.Value
	if m.Type == "" || m.Type == Exact {
		re = regexp.QuoteMeta(m.Value)
	}
	return "(?:" + re + `)(?:\?.*)?`
}

// MethodRegex is the RE2 regex (matched against the whole :method header)
// of a methods list.
func (s *ClientSelector) MethodRegex() string {
	quoted := make([]string, len(s.Methods))
	for i, m := range s.Methods {
		quoted[i] = regexp.QuoteMeta(m)
	}
	return strings.Join(quoted, "|")
}

// UnitSeconds is the length of a unit in seconds, 0 for an unknown unit.
func (u LimitUnit) UnitSeconds() int64 {
	switch u {
	case Second:
		return 1
	case Minute:
		return 60
	case Hour:
		return 3600
	case Day:
		return 86400
	}
	return 0
}
