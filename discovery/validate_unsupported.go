package discovery

// Fields pilotlight reads but does not implement. Nothing is accepted
// silently: a field that would change what a rule does is a problem, and
// the object is not served (its last good version may be: lastgood.go),
// rather than served differently from what it says. A field that changes
// nothing but names (a stat prefix) is a warning, and the object is served.
//
// The list comes from an audit of every field of VirtualService,
// DestinationRule and Gateway (istio.io/api v1) against translate/. Fields
// that other checks already report (exponentialDelay, http2Error,
// credentialName on a DestinationRule, a Gateway's credentialNames and
// client-certificate checks) are not repeated here.

import (
	"regexp"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// unsupportedField is a field (a path with [] for any index, {} for any map
// key) that pilotlight does not implement.
type unsupportedField struct {
	path    string
	warning bool // the object is served without it
	reason  string
}

// trafficPolicyFields are unsupported in every traffic policy of a
// DestinationRule: its own, its subsets' and their port-level settings.
var trafficPolicyFields = []unsupportedField{
	{path: ".loadBalancer.localityLbSetting", reason: "locality load balancing is not supported by pilotlight (its endpoints have no locality)"},
	{path: ".loadBalancer.zoneAwareLbSetting", reason: "zone-aware load balancing is not supported by pilotlight (its endpoints have no zone)"},
	{path: ".loadBalancer.warmupDurationSecs", reason: "slow start (warmup) is not supported by pilotlight"},
	{path: ".loadBalancer.warmup", reason: "slow start (warmup) is not supported by pilotlight"},
	{path: ".connectionPool.http.h2UpgradePolicy", reason: "HTTP/2 upgrade is not supported by pilotlight: upstream connections stay HTTP/1.1"},
	{path: ".connectionPool.http.useClientProtocol", reason: "useClientProtocol is not supported by pilotlight: upstream connections are HTTP/1.1"},
	{path: ".connectionPool.http.maxConcurrentStreams", reason: "maxConcurrentStreams is not supported by pilotlight: upstream connections are HTTP/1.1"},
	{path: ".connectionPool.http.http2KeepAlive", reason: "HTTP/2 keepalive is not supported by pilotlight: upstream connections are HTTP/1.1"},
	{path: ".outlierDetection.outlierDetectionHttpErrorCodes", reason: "outlierDetectionHttpErrorCodes is not supported by pilotlight; consecutive5xxErrors counts 5xx answers"},
	{path: ".tunnel", reason: "tunneling (HTTP CONNECT) is not supported by pilotlight"},
	{path: ".proxyProtocol", reason: "the PROXY protocol is not supported by pilotlight"},
	{path: ".retryBudget", reason: "retry budgets are not supported by pilotlight; connectionPool.http.maxRetries limits retries"},
}

var unsupportedFields = map[string][]unsupportedField{
	"VirtualService": {
		{path: "spec.http[].delegate", reason: "delegate VirtualServices are not supported by pilotlight; write the routes in this VirtualService"},
		{path: "spec.http[].match[].statPrefix", warning: true, reason: "statPrefix is not supported by pilotlight: ignored, the route's stats keep their default names"},
		{path: "spec.tcp[].match[].sourceSubnet", reason: "sourceSubnet is not supported by pilotlight"},
		{path: "spec.tcp[].match[].destinationSubnets", warning: true, reason: "destinationSubnets cannot be matched by pilotlight (without traffic capture an app connects to its sidecar, not to the destination's address): this match block never applies"},
		{path: "spec.tls[].match[].destinationSubnets", warning: true, reason: "destinationSubnets cannot be matched by pilotlight (without traffic capture an app connects to its sidecar, not to the destination's address): this match block never applies"},
	},
	"DestinationRule": append([]unsupportedField{
		{path: "spec.exportTo", reason: "exportTo on a DestinationRule is not supported by pilotlight: it would apply to every namespace"},
		{path: "spec.workloadSelector", reason: "workloadSelector is not supported by pilotlight: the rule would apply to every workload"},
	}, expandTrafficPolicy()...),
	"Gateway": {
		{path: "spec.servers[].bind", reason: "bind is not supported by pilotlight: a gateway listens on its pod IP"},
		{path: "spec.servers[].defaultEndpoint", reason: "defaultEndpoint is not supported by pilotlight"},
		{path: "spec.servers[].port.targetPort", reason: "port.targetPort is deprecated and not supported: the gateway Service's targetPort maps the server port (see README, Gateways)"},
		{path: "spec.servers[].tls.cipherSuites", reason: "cipherSuites is not supported by pilotlight: Envoy's default cipher suites are used"},
		{path: "spec.servers[].tls.caCertCredentialName", reason: "caCertCredentialName is not supported by pilotlight; put ca.crt in the credentialName Secret"},
		{path: "spec.servers[].tls.insecureSkipVerify", reason: "insecureSkipVerify is not supported by pilotlight"},
		{path: "spec.servers[].name", warning: true, reason: "a server name is not used by pilotlight: ignored"},
	},
}

// expandTrafficPolicy places trafficPolicyFields under each traffic policy
// of a DestinationRule.
func expandTrafficPolicy() []unsupportedField {
	var out []unsupportedField
	for _, prefix := range []string{"spec.trafficPolicy", "spec.trafficPolicy.portLevelSettings[]",
		"spec.subsets[].trafficPolicy", "spec.subsets[].trafficPolicy.portLevelSettings[]"} {
		for _, f := range trafficPolicyFields {
			f.path = prefix + f.path
			out = append(out, f)
		}
	}
	return out
}

var anyIndex = regexp.MustCompile(`\[\d+\]`)

// checkUnsupported reports the set fields of spec that pilotlight does not
// implement, for an object of kind.
func checkUnsupported(p *problemList, kind string, spec proto.Message) {
	fields := unsupportedFields[kind]
	if len(fields) == 0 || spec == nil || !spec.ProtoReflect().IsValid() {
		return
	}
	walkSet(spec.ProtoReflect(), "spec", func(path string) bool {
		generic := anyIndex.ReplaceAllString(path, "[]")
		for _, f := range fields {
			if generic == f.path {
				if f.warning {
					p.warn(path, "%s", f.reason)
				} else {
					p.add(path, "%s", f.reason)
				}
				return false // one problem per field, not one per subfield
			}
		}
		return true
	})
}

// walkSet calls visit with the path of every set field under m (indexes
// in lists, keys of maps left out), descending while visit says so.
func walkSet(m protoreflect.Message, path string, visit func(path string) bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fpath := path + "." + fd.JSONName()
		if !visit(fpath) {
			return true
		}
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			for i := 0; i < v.List().Len(); i++ {
				walkSet(v.List().Get(i).Message(), fieldIndex(fpath, i), visit)
			}
		case fd.IsMap():
			// map values are matches and strings: nothing unsupported below
		case fd.Kind() == protoreflect.MessageKind:
			walkSet(v.Message(), fpath, visit)
		}
		return true
	})
}

// isWarning reports whether a problem leaves its object served.
func isWarning(p Problem) bool { return p.Level == LevelWarning }

// errorsOf are the problems that keep an object from being served.
func errorsOf(problems []Problem) []Problem {
	var out []Problem
	for _, p := range problems {
		if !isWarning(p) {
			out = append(out, p)
		}
	}
	return out
}

// Errors are the problems that keep an object from being served: all but
// the warnings (a field that is ignored).
func Errors(problems []Problem) []Problem { return errorsOf(problems) }
