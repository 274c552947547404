package translate

import (
	commonfault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	fault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	xdstype "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	networking "istio.io/api/networking/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// faultFilter is envoy.filters.http.fault with no fault of its own: it
// only acts on routes whose typed_per_filter_config carries a VirtualService
// rule's fault (faultConfig). Outbound only: that is where VirtualService
// routes are; inbound routes never carry one.
type faultFilter struct{}

func (faultFilter) build(c filterContext) *hcm.HttpFilter {
	if c.dir == inbound {
		return nil
	}
	return &hcm.HttpFilter{
		Name:       wellknown.Fault,
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(&fault.HTTPFault{})},
	}
}

// faultConfig is a rule's fault as the fault filter's per-route HTTPFault:
//
//	delay.fixedDelay         → delay.fixed_delay
//	delay.percentage         → delay.percentage (legacy delay.percent when unset)
//	abort.httpStatus         → abort.http_status
//	abort.grpcStatus         → abort.grpc_status (the code of the status name)
//	abort.percentage         → abort.percentage
//
// A fault with no percentage faults no request, as Istio documents.
// Validation rejects what Envoy cannot do (exponentialDelay, http2Error).
func faultConfig(in *networking.HTTPFaultInjection) *fault.HTTPFault {
	if in == nil {
		return nil
	}
	out := &fault.HTTPFault{Delay: faultDelay(in.GetDelay()), Abort: faultAbort(in.GetAbort())}
	if out.Delay == nil && out.Abort == nil {
		return nil
	}
	return out
}

func faultDelay(in *networking.HTTPFaultInjection_Delay) *commonfault.FaultDelay {
	if in.GetFixedDelay() == nil {
		return nil
	}
	share := faultShare(in.GetPercentage())
	if in.GetPercentage() == nil {
		share = &xdstype.FractionalPercent{Numerator: uint32(in.GetPercent()), Denominator: xdstype.FractionalPercent_HUNDRED} //nolint:staticcheck // legacy field, still served
	}
	return &commonfault.FaultDelay{
		FaultDelaySecifier: &commonfault.FaultDelay_FixedDelay{FixedDelay: in.GetFixedDelay()},
		Percentage:         share,
	}
}

func faultAbort(in *networking.HTTPFaultInjection_Abort) *fault.FaultAbort {
	out := &fault.FaultAbort{Percentage: faultShare(in.GetPercentage())}
	switch e := in.GetErrorType().(type) {
	case *networking.HTTPFaultInjection_Abort_HttpStatus:
		out.ErrorType = &fault.FaultAbort_HttpStatus{HttpStatus: uint32(e.HttpStatus)}
	case *networking.HTTPFaultInjection_Abort_GrpcStatus:
		code, _ := discovery.GRPCStatusCode(e.GrpcStatus)
		out.ErrorType = &fault.FaultAbort_GrpcStatus{GrpcStatus: code}
	default:
		return nil
	}
	return out
}

// faultShare is a fault's percentage per MILLION; unset is 0: no request.
func faultShare(p *networking.Percent) *xdstype.FractionalPercent {
	if share := fractionalPercent(p); share != nil {
		return share
	}
	return &xdstype.FractionalPercent{Denominator: xdstype.FractionalPercent_MILLION}
}
