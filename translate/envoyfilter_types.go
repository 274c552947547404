package translate

// The Envoy types an EnvoyFilter patch value may hold inside an Any
// (typed_config, typed_per_filter_config, access logs, transport sockets):
// protojson resolves "@type" only against registered types, so every type a
// tutorial's patch uses must be linked in. Istio links 405; these are the
// extensions of upstream Envoy that mesh tutorials use, plus TypedStruct
// (udpa.type.v1 and xds.type.v3), which stays as written for Envoy to
// resolve. A patch with a type not listed here is reported, not guessed at.

import (
	_ "github.com/cncf/xds/go/udpa/type/v1"
	_ "github.com/cncf/xds/go/xds/type/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/brotli/compressor/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/brotli/decompressor/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/gzip/compressor/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/gzip/decompressor/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/zstd/compressor/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/zstd/decompressor/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/adaptive_concurrency/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/admission_control/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/bandwidth_limit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cdn_loop/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/compressor/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/csrf/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/custom_response/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/decompressor/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_json_transcoder/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ip_tagging/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/set_metadata/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/connection_limit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/wasm/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/health_checkers/redis/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/random/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/getaddrinfo/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tcp_stats/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/tcp/v3"
)

// Filter names Envoy used to accept and tutorials still write, and the
// names they have now. Istio stopped matching the old names (1.19); here
// they match their current names, on both sides of a comparison.
var (
	deprecatedHTTPFilterNames = map[string]string{
		"envoy.buffer":                  "envoy.filters.http.buffer",
		"envoy.cors":                    "envoy.filters.http.cors",
		"envoy.csrf":                    "envoy.filters.http.csrf",
		"envoy.ext_authz":               "envoy.filters.http.ext_authz",
		"envoy.fault":                   "envoy.filters.http.fault",
		"envoy.grpc_http1_bridge":       "envoy.filters.http.grpc_http1_bridge",
		"envoy.grpc_json_transcoder":    "envoy.filters.http.grpc_json_transcoder",
		"envoy.grpc_web":                "envoy.filters.http.grpc_web",
		"envoy.gzip":                    "envoy.filters.http.gzip",
		"envoy.health_check":            "envoy.filters.http.health_check",
		"envoy.http_dynamo_filter":      "envoy.filters.http.dynamo",
		"envoy.ip_tagging":              "envoy.filters.http.ip_tagging",
		"envoy.lua":                     "envoy.filters.http.lua",
		"envoy.rate_limit":              "envoy.filters.http.ratelimit",
		"envoy.router":                  "envoy.filters.http.router",
		"envoy.squash":                  "envoy.filters.http.squash",
		"envoy.local_rate_limit":        "envoy.filters.http.local_ratelimit",
		"envoy.filters.http.rate_limit": "envoy.filters.http.ratelimit",
	}
	deprecatedNetworkFilterNames = map[string]string{
		"envoy.client_ssl_auth":         "envoy.filters.network.client_ssl_auth",
		"envoy.echo":                    "envoy.filters.network.echo",
		"envoy.ext_authz":               "envoy.filters.network.ext_authz",
		"envoy.http_connection_manager": "envoy.filters.network.http_connection_manager",
		"envoy.mongo_proxy":             "envoy.filters.network.mongo_proxy",
		"envoy.ratelimit":               "envoy.filters.network.ratelimit",
		"envoy.redis_proxy":             "envoy.filters.network.redis_proxy",
		"envoy.tcp_proxy":               "envoy.filters.network.tcp_proxy",
	}
)

// httpFilterName is an HTTP filter's current name.
func httpFilterName(name string) string { return currentName(deprecatedHTTPFilterNames, name) }

// networkFilterName is a network filter's current name.
func networkFilterName(name string) string { return currentName(deprecatedNetworkFilterNames, name) }

func currentName(renamed map[string]string, name string) string {
	if now, ok := renamed[name]; ok {
		return now
	}
	return name
}
