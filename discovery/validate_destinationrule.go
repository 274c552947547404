package discovery

// Validation of DestinationRule traffic policies: the checks of Istio's
// webhook (validateTrafficPolicy and friends), plus what Envoy itself would
// refuse, so that a bad value is a Problem naming the field instead of a
// cluster that every sidecar NACKs.

import (
	"math"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1"
)

// Envoy's limits, from its protos and load balancers.
const (
	maxRingSize      = 8 * 1024 * 1024 // ring_hash_lb_config.minimum_ring_size: lte 8M
	maxMaglevTable   = 5000011         // maglev_lb_config.table_size: below this prime
	maxPercent       = 100
	minHTTPErrorCode = 100
	maxHTTPErrorCode = 599
)

// checkTrafficPolicies checks the rule's policy and every subset's.
func checkTrafficPolicies(p *problemList, spec *networking.DestinationRule) {
	checkTrafficPolicy(p, "spec.trafficPolicy", spec.GetTrafficPolicy())
	for i, s := range spec.GetSubsets() {
		checkTrafficPolicy(p, fieldIndex("spec.subsets", i)+".trafficPolicy", s.GetTrafficPolicy())
	}
}

func checkTrafficPolicy(p *problemList, path string, tp *networking.TrafficPolicy) {
	if tp == nil {
		return
	}
	if tp.LoadBalancer == nil && tp.ConnectionPool == nil && tp.OutlierDetection == nil && tp.Tls == nil &&
		len(tp.PortLevelSettings) == 0 && tp.Tunnel == nil && tp.ProxyProtocol == nil && tp.RetryBudget == nil {
		p.add(path, "a traffic policy must set at least one field")
	}
	checkPolicyParts(p, path, tp.LoadBalancer, tp.ConnectionPool, tp.OutlierDetection, tp.Tls)
	for i, pl := range tp.PortLevelSettings {
		checkPortPolicy(p, fieldIndex(path+".portLevelSettings", i), pl)
	}
}

// checkPolicyParts checks the four parts that both a policy and a
// port-level policy have.
func checkPolicyParts(p *problemList, path string, lb *networking.LoadBalancerSettings, pool *networking.ConnectionPoolSettings,
	od *networking.OutlierDetection, tls *networking.ClientTLSSettings) {
	checkLoadBalancer(p, path+".loadBalancer", lb)
	checkConnectionPool(p, path+".connectionPool", pool)
	checkOutlierDetection(p, path+".outlierDetection", od)
	checkClientTLS(p, path+".tls", tls)
}

func checkPortPolicy(p *problemList, path string, pl *networking.TrafficPolicy_PortTrafficPolicy) {
	if n := pl.GetPort().GetNumber(); n == 0 || n > math.MaxUint16 {
		p.add(path+".port.number", "port number %d is not in 1..65535", n)
	}
	if pl.GetLoadBalancer() == nil && pl.GetConnectionPool() == nil && pl.GetOutlierDetection() == nil && pl.GetTls() == nil {
		p.add(path, "a port-level policy must set at least one field")
	}
	checkPolicyParts(p, path, pl.GetLoadBalancer(), pl.GetConnectionPool(), pl.GetOutlierDetection(), pl.GetTls())
}

func checkLoadBalancer(p *problemList, path string, lb *networking.LoadBalancerSettings) {
	ch := lb.GetConsistentHash()
	if ch == nil {
		return
	}
	path += ".consistentHash"
	checkHashKey(p, path, ch)
	legacyRing := ch.GetMinimumRingSize() //nolint:staticcheck // deprecated, still served
	if legacyRing != 0 && ch.GetHashAlgorithm() != nil {
		p.add(path+".minimumRingSize", "only one of minimumRingSize, ringHash and maglev may be set")
	}
	if legacyRing > maxRingSize {
		p.add(path+".minimumRingSize", "%d is more than Envoy's limit %d", legacyRing, maxRingSize)
	}
	if n := ch.GetRingHash().GetMinimumRingSize(); n > maxRingSize {
		p.add(path+".ringHash.minimumRingSize", "%d is more than Envoy's limit %d", n, maxRingSize)
	}
	if m := ch.GetMaglev(); m != nil {
		checkMaglevTable(p, path+".maglev.tableSize", m.GetTableSize())
	}
}

// checkHashKey: Envoy refuses hash policies on empty names.
func checkHashKey(p *problemList, path string, ch *networking.LoadBalancerSettings_ConsistentHashLB) {
	switch key := ch.GetHashKey().(type) {
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName:
		if !isHeaderFieldName(key.HttpHeaderName) {
			p.add(path+".httpHeaderName", "%q is not an HTTP header name", key.HttpHeaderName)
		}
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpQueryParameterName:
		if key.HttpQueryParameterName == "" {
			p.add(path+".httpQueryParameterName", "the query parameter name must not be empty")
		}
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpCookie:
		if key.HttpCookie.GetName() == "" {
			p.add(path+".httpCookie.name", "the cookie name is required")
		}
	}
}

// checkMaglevTable: Envoy needs a prime below 5000011.
func checkMaglevTable(p *problemList, path string, size uint64) {
	switch {
	case size == 0:
		p.add(path, "tableSize is required for maglev")
	case size >= maxMaglevTable:
		p.add(path, "%d is not below Envoy's limit %d", size, maxMaglevTable)
	case !isPrimeNumber(size):
		p.add(path, "%d is not a prime number, as Maglev requires", size)
	}
}

func checkConnectionPool(p *problemList, path string, pool *networking.ConnectionPoolSettings) {
	if pool == nil {
		return
	}
	if pool.Tcp == nil && pool.Http == nil {
		p.add(path, "a connection pool must set tcp or http")
	}
	if tcp := pool.Tcp; tcp != nil {
		tp := path + ".tcp"
		checkPolicyCount(p, tp+".maxConnections", tcp.MaxConnections)
		checkPolicyDuration(p, tp+".connectTimeout", tcp.ConnectTimeout)
		checkPolicyDuration(p, tp+".maxConnectionDuration", tcp.MaxConnectionDuration)
		if tcp.IdleTimeout.AsDuration() != 0 { // 0s turns the idle timeout off
			checkPolicyDuration(p, tp+".idleTimeout", tcp.IdleTimeout)
		}
		checkKeepalive(p, tp+".tcpKeepalive", tcp.TcpKeepalive)
	}
	if h := pool.Http; h != nil {
		hp := path + ".http"
		checkPolicyCount(p, hp+".http1MaxPendingRequests", h.Http1MaxPendingRequests)
		checkPolicyCount(p, hp+".http2MaxRequests", h.Http2MaxRequests)
		checkPolicyCount(p, hp+".maxRequestsPerConnection", h.MaxRequestsPerConnection)
		checkPolicyCount(p, hp+".maxRetries", h.MaxRetries)
		checkPolicyCount(p, hp+".maxConcurrentStreams", h.MaxConcurrentStreams)
		checkPolicyDuration(p, hp+".idleTimeout", h.IdleTimeout)
		if h.H2UpgradePolicy == networking.ConnectionPoolSettings_HTTPSettings_UPGRADE && h.UseClientProtocol {
			p.add(hp+".useClientProtocol", "must not be true when h2UpgradePolicy is UPGRADE")
		}
	}
}

// checkKeepalive: Envoy counts keepalive time and interval in whole
// seconds, so less than a second would become 0.
func checkKeepalive(p *problemList, path string, ka *networking.ConnectionPoolSettings_TCPSettings_TcpKeepalive) {
	checkWholeSeconds(p, path+".time", ka.GetTime())
	checkWholeSeconds(p, path+".interval", ka.GetInterval())
}

func checkWholeSeconds(p *problemList, path string, d *durationpb.Duration) {
	switch {
	case d == nil || !inEnvoyRange(d):
	case d.AsDuration() < time.Second:
		p.add(path, "%s is less than a second; Envoy counts keepalive in whole seconds", d.AsDuration())
	case d.GetSeconds() > math.MaxUint32:
		p.add(path, "%s is more than Envoy's limit for keepalive, %ds", formatDuration(d), uint32(math.MaxUint32))
	}
}

func checkOutlierDetection(p *problemList, path string, od *networking.OutlierDetection) {
	if od == nil {
		return
	}
	checkPolicyCount(p, path+".consecutiveErrors", od.ConsecutiveErrors) //nolint:staticcheck // deprecated, still served
	checkPolicyDuration(p, path+".interval", od.Interval)
	checkPolicyDuration(p, path+".baseEjectionTime", od.BaseEjectionTime)
	checkPolicyPercent(p, path+".maxEjectionPercent", od.MaxEjectionPercent)
	checkPolicyPercent(p, path+".minHealthPercent", od.MinHealthPercent)
	if !od.SplitExternalLocalOriginErrors && od.ConsecutiveLocalOriginFailures.GetValue() > 0 {
		p.add(path+".consecutiveLocalOriginFailures", "needs splitExternalLocalOriginErrors: true")
	}
	for i, code := range od.OutlierDetectionHttpErrorCodes {
		if code < minHTTPErrorCode || code > maxHTTPErrorCode {
			p.add(fieldIndex(path+".outlierDetectionHttpErrorCodes", i), "%d is not an HTTP status code (100..599)", code)
		}
	}
}

// checkClientTLS: Envoy reads certificate files itself (no node agent), so
// paths must be absolute; a relative one would depend on Envoy's working
// directory. credentialName needs secrets from the API server, which
// DestinationRules cannot use yet.
func checkClientTLS(p *problemList, path string, tls *networking.ClientTLSSettings) {
	if tls == nil {
		return
	}
	switch tls.Mode {
	case networking.ClientTLSSettings_SIMPLE, networking.ClientTLSSettings_MUTUAL:
		if tls.CredentialName != "" {
			p.add(path+".credentialName", "not supported in DestinationRules yet: give caCertificates, clientCertificate and privateKey as file paths")
		}
		if tls.Mode == networking.ClientTLSSettings_MUTUAL {
			checkRequiredPath(p, path+".clientCertificate", tls.ClientCertificate, "MUTUAL")
			checkRequiredPath(p, path+".privateKey", tls.PrivateKey, "MUTUAL")
		}
	case networking.ClientTLSSettings_ISTIO_MUTUAL:
		if tls.ClientCertificate != "" || tls.PrivateKey != "" || tls.CaCertificates != "" || tls.CredentialName != "" {
			p.add(path, "ISTIO_MUTUAL uses the mesh's own certificates: clientCertificate, privateKey, caCertificates and credentialName must be empty")
		}
	}
	checkAbsolutePath(p, path+".clientCertificate", tls.ClientCertificate)
	checkAbsolutePath(p, path+".privateKey", tls.PrivateKey)
	checkAbsolutePath(p, path+".caCertificates", tls.CaCertificates)
	checkAbsolutePath(p, path+".caCrl", tls.CaCrl)
	if tls.ClientCertificate != "" && tls.Mode == networking.ClientTLSSettings_SIMPLE {
		p.add(path+".clientCertificate", "a client certificate needs mode MUTUAL")
	}
	for i, san := range tls.SubjectAltNames {
		if san == "" {
			p.add(fieldIndex(path+".subjectAltNames", i), "a subject alt name must not be empty")
		}
	}
}

func checkRequiredPath(p *problemList, path, value, mode string) {
	if value == "" {
		p.add(path, "required with mode %s", mode)
	}
}

func checkAbsolutePath(p *problemList, path, value string) {
	if value != "" && !filepath.IsAbs(value) {
		p.add(path, "%q is not an absolute path", value)
	}
}

// checkPolicyDuration follows Istio's ValidateDuration: at least 1ms, in whole
// milliseconds. nil (unset) is fine.
func checkPolicyDuration(p *problemList, path string, d *durationpb.Duration) {
	if d == nil || !inEnvoyRange(d) {
		return // checkDurations reports it
	}
	switch v := d.AsDuration(); {
	case v < time.Millisecond:
		p.add(path, "%s is less than 1ms", v)
	case v%time.Millisecond != 0:
		p.add(path, "%s is not a whole number of milliseconds", v)
	}
}

func checkPolicyCount(p *problemList, path string, n int32) {
	if n < 0 {
		p.add(path, "%d is negative", n)
	}
}

func checkPolicyPercent(p *problemList, path string, n int32) {
	if n < 0 || n > maxPercent {
		p.add(path, "%d is not a percentage (0..100)", n)
	}
}

// isHeaderFieldName: an RFC 9110 token, which is what Envoy accepts.
func isHeaderFieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !isHeaderTokenChar(c) {
			return false
		}
	}
	return true
}

func isHeaderTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	for _, t := range []byte("!#$%&'*+-.^_`|~") {
		if c == t {
			return true
		}
	}
	return false
}

// isPrimeNumber matches Envoy's Primes::isPrime, which Maglev uses.
func isPrimeNumber(n uint64) bool {
	if n < 2 {
		return false
	}
	if n < 4 {
		return true
	}
	if n%2 == 0 {
		return false
	}
	for f := uint64(3); f*f <= n; f += 2 {
		if n%f == 0 {
			return false
		}
	}
	return true
}

// ValidateDestinationRule returns the problems of dr; none means it can be
// served.
func ValidateDestinationRule(dr *DestinationRule) []Problem {
	p := newProblemList("DestinationRule", dr.Meta)
	spec := dr.Spec
	if spec == nil {
		p.add("spec", "spec is required")
		return p.list
	}
	if spec.Host == "" {
		p.add("spec.host", "host is required")
	}
	firstIndex := map[string]int{} // subset name -> index where it first appears
	for i, s := range spec.Subsets {
		path := fieldIndex("spec.subsets", i)
		if s.Name == "" {
			p.add(path+".name", "subset name is required")
		} else if first, dup := firstIndex[s.Name]; dup {
			p.add(path+".name", "subset %q is already defined by spec.subsets[%d]", s.Name, first)
		} else {
			firstIndex[s.Name] = i
		}
		// A subset without labels would select every endpoint of the host,
		// which is never what a subset is written for.
		if len(s.Labels) == 0 {
			p.add(path+".labels", "subset labels are required")
		}
	}
	checkTrafficPolicies(p, spec) // validate_destinationrule.go
	checkDurations(p, "spec", spec)
	checkUnsupported(p, "DestinationRule", spec)
	return p.list
}
