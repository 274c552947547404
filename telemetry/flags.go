package telemetry

import (
	"strconv"
	"strings"

	accesslogdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
)

// responseFlags renders Envoy's response flags in their short form, as
// %RESPONSE_FLAGS% and Istio's response_flags label do ("-" for none).
func responseFlags(f *accesslogdata.ResponseFlags) string {
	if f == nil {
		return "-"
	}
	var codes []string
	for _, c := range []struct {
		set  bool
		code string
	}{
		{f.FailedLocalHealthcheck, "LH"},
		{f.NoHealthyUpstream, "UH"},
		{f.UpstreamRequestTimeout, "UT"},
		{f.LocalReset, "LR"},
		{f.UpstreamRemoteReset, "UR"},
		{f.UpstreamConnectionFailure, "UF"},
		{f.UpstreamConnectionTermination, "UC"},
		{f.UpstreamOverflow, "UO"},
		{f.NoRouteFound, "NR"},
		{f.DelayInjected, "DI"},
		{f.FaultInjected, "FI"},
		{f.RateLimited, "RL"},
		{f.UnauthorizedDetails != nil, "UAEX"},
		{f.RateLimitServiceError, "RLSE"},
		{f.DownstreamConnectionTermination, "DC"},
		{f.UpstreamRetryLimitExceeded, "URX"},
		{f.StreamIdleTimeout, "SI"},
		{f.InvalidEnvoyRequestHeaders, "IH"},
		{f.DownstreamProtocolError, "DPE"},
		{f.UpstreamMaxStreamDurationReached, "UMSDR"},
		{f.ResponseFromCacheFilter, "RFCF"},
		{f.NoFilterConfigFound, "NFCF"},
		{f.DurationTimeout, "DT"},
		{f.UpstreamProtocolError, "UPE"},
		{f.NoClusterFound, "NC"},
		{f.OverloadManager, "OM"},
		{f.DnsResolutionFailure, "DF"},
		{f.DownstreamRemoteReset, "DR"},
	} {
		if c.set {
			codes = append(codes, c.code)
		}
	}
	if len(codes) == 0 {
		return "-"
	}
	return strings.Join(codes, ",")
}

// requestProtocol is Istio's request_protocol of an HTTP entry: "grpc"
// when the request's content-type is gRPC's (Envoy logs it as pilotlight
// asks, translate/telemetry.go), else "http".
func requestProtocol(r *accesslogdata.HTTPRequestProperties) string {
	if strings.HasPrefix(r.GetRequestHeaders()["content-type"], "application/grpc") {
		return "grpc"
	}
	return "http"
}

// grpcStatus is Istio's grpc_response_status: the grpc-status trailer (or
// header, in a trailers-only response) of a gRPC request; "-" for plain
// HTTP or when there is none. The value comes from a proxy's log: only
// gRPC's codes (0 to 16) become label values.
func grpcStatus(protocol string, r *accesslogdata.HTTPResponseProperties) string {
	if protocol != "grpc" {
		return "-"
	}
	v, ok := r.GetResponseTrailers()["grpc-status"]
	if !ok {
		v = r.GetResponseHeaders()["grpc-status"]
	}
	if code, err := strconv.Atoi(v); err == nil && code >= 0 && code <= 16 && strconv.Itoa(code) == v {
		return v
	}
	return "-"
}
