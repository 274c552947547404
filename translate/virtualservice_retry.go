package translate

import (
	"strconv"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previouspriorities "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// retryPolicy follows Istio's conversion (pilot's retry.ConvertPolicy):
//
//	no retries                 → Istio's default policy (defaultRetryPolicy)
//	attempts: 0                → no retry_policy at all: retries off
//	attempts                   → num_retries (so at most 1+attempts tries)
//	perTryTimeout              → per_try_timeout
//	retryOn                    → retry_on; the numbers in it go to
//	                             retriable_status_codes, with the
//	                             "retriable-status-codes" condition added
//	retryRemoteLocalities      → retry_priority previous_priorities
//	retryIgnorePreviousHosts   → false drops the previous_hosts predicate
//	backoff                    → retry_back_off.base_interval
//
// Everything else keeps the default's values.
func retryPolicy(in *networking.HTTPRetry) *route.RetryPolicy {
	if in == nil {
		return defaultRetryPolicy()
	}
	if in.GetAttempts() <= 0 {
		return nil
	}
	p := defaultRetryPolicy()
	p.NumRetries = wrapperspb.UInt32(uint32(in.GetAttempts()))
	if in.GetRetryOn() != "" {
		p.RetryOn, p.RetriableStatusCodes = parseRetryOn(in.GetRetryOn())
	}
	p.PerTryTimeout = in.GetPerTryTimeout()
	if ignore := in.GetRetryIgnorePreviousHosts(); ignore != nil && !ignore.GetValue() {
		p.RetryHostPredicate = nil
	}
	if in.GetRetryRemoteLocalities().GetValue() {
		p.RetryPriority = previousPriorities()
	}
	if in.GetBackoff() != nil {
		p.RetryBackOff = &route.RetryPolicy_RetryBackOff{BaseInterval: in.GetBackoff()}
	}
	return p
}

// parseRetryOn splits "5xx,503,connect-failure" into Envoy's retry_on
// conditions and retriable_status_codes. Codes only count when the
// retriable-status-codes condition is on, so it is added when needed.
func parseRetryOn(retryOn string) (string, []uint32) {
	var conditions []string
	var codes []uint32
	for _, part := range strings.Split(retryOn, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if code, err := strconv.ParseUint(part, 10, 32); err == nil {
			codes = append(codes, uint32(code))
			continue
		}
		conditions = append(conditions, part)
	}
	if len(codes) > 0 && !containsString(conditions, "retriable-status-codes") {
		conditions = append(conditions, "retriable-status-codes")
	}
	return strings.Join(conditions, ","), codes
}

// previousPriorities makes each retry prefer another priority (locality
// group) than the ones tried, updating after every 2 tries as Istio does.
func previousPriorities() *route.RetryPolicy_RetryPriority {
	return &route.RetryPolicy_RetryPriority{
		Name: "envoy.retry_priorities.previous_priorities",
		ConfigType: &route.RetryPolicy_RetryPriority_TypedConfig{
			TypedConfig: mustAny(&previouspriorities.PreviousPrioritiesConfig{UpdateFrequency: 2}),
		},
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
