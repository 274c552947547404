package discovery

// Validation of HTTP route actions and features: redirect, rewrite, direct
// response, mirrors, fault, retries, timeout and CORS. The limits are
// Envoy's (its proto constraints and config checks), so that whatever passes
// here is accepted by Envoy: a mistake becomes a Problem naming the field,
// never a NACK.

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1"
)

// maxDirectResponseBody is Envoy's default max_direct_response_body_size_bytes.
const maxDirectResponseBody = 4096

// checkSubstitution checks an RE2 rewrite string: \0 to \9 name the match
// and its groups, \\ is a backslash. Envoy accepts any string, but RE2
// then leaves every path as it was, silently.
func checkSubstitution(p *problemList, path, rewrite string, groups int) {
	for i := 0; i < len(rewrite); i++ {
		if rewrite[i] != '\\' {
			continue
		}
		i++
		switch {
		case i == len(rewrite):
			p.add(path, "ends in a lone backslash; write \\\\ for a backslash")
		case rewrite[i] == '\\':
		case rewrite[i] >= '0' && rewrite[i] <= '9':
			if n := int(rewrite[i] - '0'); n > groups {
				p.add(path, "\\%d refers to group %d, the regex has %d", n, n, groups)
			}
		default:
			p.add(path, "\\%c is not \\0 to \\9 (a group) or \\\\ (a backslash)", rewrite[i])
		}
	}
}

var schemeSyntax = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// redirectCodes are the response codes Envoy can redirect with (0 is 301).
var redirectCodes = map[uint32]bool{0: true, 301: true, 302: true, 303: true, 307: true, 308: true}

func checkRedirect(p *problemList, path string, r *networking.HTTPRedirect) {
	if r == nil {
		return
	}
	if r.Uri == "" && r.PrefixRewrite == "" && r.Authority == "" && r.Scheme == "" && r.RedirectPort == nil {
		p.add(path, "a redirect needs uri, prefixRewrite, authority, scheme or a port: this one sends the client back where it was")
	}
	if !redirectCodes[r.RedirectCode] {
		p.add(path+".redirectCode", "redirect code %d is not one of 301, 302, 303, 307, 308", r.RedirectCode)
	}
	if r.Uri != "" && r.PrefixRewrite != "" {
		p.add(path+".prefixRewrite", "only one of uri and prefixRewrite may be set")
	}
	if port := r.GetPort(); port > 65535 {
		p.add(path+".port", "port %d is out of range", port)
	}
	if r.Scheme != "" && !schemeSyntax.MatchString(r.Scheme) {
		p.add(path+".scheme", "%q is not a URL scheme", r.Scheme)
	}
	checkHeaderValue(p, path+".uri", r.Uri)
	checkHeaderValue(p, path+".authority", r.Authority)
	checkHeaderValue(p, path+".prefixRewrite", r.PrefixRewrite)
}

func checkRewrite(p *problemList, path string, rw *networking.HTTPRewrite, forwards bool) {
	if rw == nil {
		return
	}
	if !forwards {
		p.add(path, "rewrite applies only to a rule that routes to destinations")
	}
	if rw.Uri == "" && rw.UriRegexRewrite == nil && rw.Authority == "" {
		p.add(path, "a rewrite needs uri, uriRegexRewrite or authority")
	}
	if rw.Uri != "" && rw.UriRegexRewrite != nil {
		p.add(path+".uriRegexRewrite", "only one of uri and uriRegexRewrite may be set")
	}
	if rr := rw.UriRegexRewrite; rr != nil {
		checkRE2(p, path+".uriRegexRewrite.match", rr.Match)
		checkHeaderValue(p, path+".uriRegexRewrite.rewrite", rr.Rewrite)
		if re, err := regexp.Compile(rr.Match); err == nil {
			checkSubstitution(p, path+".uriRegexRewrite.rewrite", rr.Rewrite, re.NumSubexp())
		}
	}
	checkHeaderValue(p, path+".uri", rw.Uri)
	checkHeaderValue(p, path+".authority", rw.Authority)
}

func checkDirectResponse(p *problemList, path string, d *networking.HTTPDirectResponse) {
	if d == nil {
		return
	}
	if d.Status < 200 || d.Status > 599 {
		p.add(path+".status", "status %d is not in 200..599", d.Status)
	}
	if n := len(d.GetBody().GetString_()) + len(d.GetBody().GetBytes()); n > maxDirectResponseBody {
		p.add(path+".body", "body of %d bytes is larger than Envoy's limit of %d", n, maxDirectResponseBody)
	}
}

// checkMirrors: mirror and mirrors[] name destinations like route[] does,
// with a share of 0..100 percent; only one of mirror and mirrors, as in Istio.
func (v *Validator) checkMirrors(p *problemList, namespace, path string, r *networking.HTTPRoute, forwards bool) {
	if (r.Mirror != nil || len(r.Mirrors) > 0) && !forwards {
		p.add(path, "mirror and mirrors apply only to a rule that routes to destinations")
	}
	if r.Mirror != nil {
		v.destination(p, namespace, path+".mirror", r.Mirror)
		if len(r.Mirrors) > 0 {
			p.add(path+".mirrors", "only one of mirror and mirrors may be set")
		}
	}
	checkHTTPPercent(p, path+".mirrorPercentage", r.MirrorPercentage)
	//nolint:staticcheck // mirrorPercent is deprecated, and still served.
	if mp := r.MirrorPercent; mp != nil && mp.Value > 100 {
		p.add(path+".mirrorPercent", "%d is not a percentage (0..100)", mp.Value)
	}
	for i, m := range r.Mirrors {
		mpath := fieldIndex(path+".mirrors", i)
		if m.Destination == nil {
			p.add(mpath+".destination", "destination is required")
		} else {
			v.destination(p, namespace, mpath+".destination", m.Destination)
		}
		checkHTTPPercent(p, mpath+".percentage", m.Percentage)
	}
}

func checkHTTPPercent(p *problemList, path string, pct *networking.Percent) {
	if pct != nil && !(pct.Value >= 0 && pct.Value <= 100) {
		p.add(path+".value", "%v is not a percentage (0..100)", pct.Value)
	}
}

func checkFault(p *problemList, path string, f *networking.HTTPFaultInjection) {
	if f == nil {
		return
	}
	if f.Delay == nil && f.Abort == nil {
		p.add(path, "needs a delay or an abort")
	}
	if d := f.Delay; d != nil {
		switch d.HttpDelayType.(type) {
		case *networking.HTTPFaultInjection_Delay_FixedDelay:
			checkHTTPDuration(p, path+".delay.fixedDelay", d.GetFixedDelay(), time.Millisecond)
		case *networking.HTTPFaultInjection_Delay_ExponentialDelay:
			p.add(path+".delay.exponentialDelay", "exponentialDelay is not supported (nor by Istio); use fixedDelay")
		default:
			p.add(path+".delay.fixedDelay", "fixedDelay is required")
		}
		checkHTTPPercent(p, path+".delay.percentage", d.Percentage)
		//nolint:staticcheck // percent is deprecated, and still served.
		if d.Percent < 0 || d.Percent > 100 {
			p.add(path+".delay.percent", "%d is not a percentage (0..100)", d.Percent)
		}
	}
	if a := f.Abort; a != nil {
		checkAbort(p, path+".abort", a)
	}
}

func checkAbort(p *problemList, path string, a *networking.HTTPFaultInjection_Abort) {
	switch e := a.ErrorType.(type) {
	case *networking.HTTPFaultInjection_Abort_HttpStatus:
		if e.HttpStatus < 200 || e.HttpStatus > 599 {
			p.add(path+".httpStatus", "status %d is not in 200..599", e.HttpStatus)
		}
	case *networking.HTTPFaultInjection_Abort_GrpcStatus:
		if _, ok := GRPCStatusCode(e.GrpcStatus); !ok {
			p.add(path+".grpcStatus", "%q is not a gRPC status name such as UNAVAILABLE", e.GrpcStatus)
		}
	case *networking.HTTPFaultInjection_Abort_Http2Error:
		p.add(path+".http2Error", "http2Error is not supported (nor by Istio); use httpStatus")
	default:
		p.add(path+".httpStatus", "httpStatus or grpcStatus is required")
	}
	checkHTTPPercent(p, path+".percentage", a.Percentage)
}

// grpcStatusCodes are the gRPC status names abort.grpcStatus may use.
var grpcStatusCodes = map[string]uint32{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
	"NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
	"FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
	"INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

// GRPCStatusCode is the code of a gRPC status name, e.g. UNAVAILABLE → 14.
func GRPCStatusCode(name string) (uint32, bool) {
	code, ok := grpcStatusCodes[name]
	return code, ok
}

func checkRetries(p *problemList, path string, r *networking.HTTPRetry) {
	if r == nil {
		return
	}
	if r.Attempts < 0 {
		p.add(path+".attempts", "attempts must not be negative (0 turns retries off)")
	}
	checkHTTPDuration(p, path+".perTryTimeout", r.PerTryTimeout, time.Millisecond)
	checkHTTPDuration(p, path+".backoff", r.Backoff, time.Millisecond)
	checkRetryOn(p, path+".retryOn", r.RetryOn)
}

// retryConditions are Envoy's retry_on conditions (x-envoy-retry-on and
// x-envoy-retry-grpc-on). Envoy ignores an unknown one; a typo would
// silently turn retries off, so it is a Problem here, as in Istio.
var retryConditions = map[string]bool{
	// x-envoy-retry-on
	"5xx": true, "gateway-error": true, "reset": true, "reset-before-request": true,
	"connect-failure": true, "envoy-ratelimited": true, "retriable-4xx": true,
	"refused-stream": true, "retriable-status-codes": true, "retriable-headers": true,
	"http3-post-connect-failure": true,
	// x-envoy-retry-grpc-on
	"cancelled": true, "deadline-exceeded": true, "internal": true,
	"resource-exhausted": true, "unavailable": true,
}

// checkRetryOn: a comma-separated list of conditions and HTTP status codes.
func checkRetryOn(p *problemList, path, retryOn string) {
	for _, part := range strings.Split(retryOn, ",") {
		part = strings.TrimSpace(part)
		if part == "" || retryConditions[part] {
			continue
		}
		if code, err := strconv.Atoi(part); err == nil {
			if code < 100 || code > 599 {
				p.add(path, "%d is not an HTTP status code", code)
			}
			continue
		}
		p.add(path, "%q is not a retry condition (e.g. 5xx, gateway-error, connect-failure, reset, or a status code)", part)
	}
}

// checkHTTPDuration: a set duration must be at least min. Whether Envoy
// takes it at all (negative, out of range) is checkDurations' to say.
func checkHTTPDuration(p *problemList, path string, d *durationpb.Duration, min time.Duration) {
	if d != nil && inEnvoyRange(d) && d.AsDuration() < min {
		p.add(path, "duration %v is shorter than %v", d.AsDuration(), min)
	}
}

func checkCors(p *problemList, path string, c *networking.CorsPolicy) {
	if c == nil {
		return
	}
	for i, o := range c.AllowOrigins {
		opath := fieldIndex(path+".allowOrigins", i)
		if o.GetMatchType() == nil {
			p.add(opath, "needs exact, prefix or regex")
		}
		checkRegex(p, opath, o)
	}
	//nolint:staticcheck // allowOrigin is deprecated, and still served.
	for i, o := range c.AllowOrigin {
		checkHeaderValue(p, fieldIndex(path+".allowOrigin", i), o)
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"allowMethods", c.AllowMethods}, {"allowHeaders", c.AllowHeaders}, {"exposeHeaders", c.ExposeHeaders}} {
		for i, item := range list.items {
			if item != "*" && !isToken(item) {
				p.add(fieldIndex(path+"."+list.name, i), "%q is not a method or header name (nor *)", item)
			}
		}
	}
	checkHTTPDuration(p, path+".maxAge", c.MaxAge, 0)
}
