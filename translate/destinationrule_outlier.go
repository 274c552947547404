package translate

import (
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1"
)

// applyOutlierDetection: outlierDetection → outlier_detection, following
// Istio's applyOutlierDetection field by field.
func applyOutlierDetection(c *cluster.Cluster, od *networking.OutlierDetection) {
	if od == nil {
		return
	}
	out := &cluster.OutlierDetection{
		// Only consecutive errors eject: success-rate ejection (on by
		// default in Envoy) is turned off, as Istio does.
		EnforcingSuccessRate: wrapperspb.UInt32(0),
		Interval:             od.GetInterval(),         // interval → interval
		BaseEjectionTime:     od.GetBaseEjectionTime(), // baseEjectionTime → base_ejection_time
	}
	legacyConsecutiveErrors(out, od)
	if n := od.GetConsecutive_5XxErrors(); n != nil {
		// consecutive5xxErrors → consecutive_5xx; 0 turns it off.
		out.Consecutive_5Xx = wrapperspb.UInt32(n.GetValue())
		out.EnforcingConsecutive_5Xx = enforcing(n.GetValue())
	}
	if n := od.GetConsecutiveGatewayErrors(); n != nil {
		// consecutiveGatewayErrors → consecutive_gateway_failure (502, 503, 504).
		out.ConsecutiveGatewayFailure = wrapperspb.UInt32(n.GetValue())
		out.EnforcingConsecutiveGatewayFailure = enforcing(n.GetValue())
	}
	if od.GetMaxEjectionPercent() > 0 {
		out.MaxEjectionPercent = wrapperspb.UInt32(uint32(od.GetMaxEjectionPercent()))
	}
	localOriginErrors(out, od)
	c.OutlierDetection = out
	// minHealthPercent → common_lb_config.healthy_panic_threshold. Istio
	// always sets it with outlier detection, so its default 0 turns Envoy's
	// panic mode (at 50% healthy, route to all hosts, ejected or not) off:
	// with few pods per service the panic mode would undo the ejections.
	c.CommonLbConfig = &cluster.Cluster_CommonLbConfig{
		HealthyPanicThreshold: &typev3.Percent{Value: float64(od.GetMinHealthPercent())},
	}
}

// legacyConsecutiveErrors: the deprecated consecutiveErrors counted only
// gateway errors (istio/api#617), so it becomes consecutive_gateway_failure
// and switches the 5xx detection off. consecutive5xxErrors, when also set,
// switches it back on.
func legacyConsecutiveErrors(out *cluster.OutlierDetection, od *networking.OutlierDetection) {
	n := od.GetConsecutiveErrors() //nolint:staticcheck // deprecated, still served
	if n <= 0 {
		return
	}
	out.ConsecutiveGatewayFailure = wrapperspb.UInt32(uint32(n))
	out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100)
	out.EnforcingConsecutive_5Xx = wrapperspb.UInt32(0)
}

// localOriginErrors: splitExternalLocalOriginErrors and
// consecutiveLocalOriginFailures → split_external_local_origin_errors and
// consecutive_local_origin_failure (connect failures, timeouts, resets).
func localOriginErrors(out *cluster.OutlierDetection, od *networking.OutlierDetection) {
	if !od.GetSplitExternalLocalOriginErrors() {
		return
	}
	out.SplitExternalLocalOriginErrors = true
	if n := od.GetConsecutiveLocalOriginFailures().GetValue(); n > 0 {
		out.ConsecutiveLocalOriginFailure = wrapperspb.UInt32(n)
		out.EnforcingConsecutiveLocalOriginFailure = wrapperspb.UInt32(100)
	}
	out.EnforcingLocalOriginSuccessRate = wrapperspb.UInt32(0)
}

// enforcing is the percentage of detected outliers that are ejected: all of
// them, or none when the detector's threshold is 0 (off).
func enforcing(threshold uint32) *wrapperspb.UInt32Value {
	if threshold == 0 {
		return wrapperspb.UInt32(0)
	}
	return wrapperspb.UInt32(100)
}
