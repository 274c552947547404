package telemetry

import (
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
