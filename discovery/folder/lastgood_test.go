package folder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
)

// folderCase is one kind as a folder holds it: two valid versions of an
// object, a version that fails validation, and how to tell which version
// a snapshot serves.
type folderCase struct {
	kind   string
	name   string // namespace/name
	yaml   func(v int) string
	served func(*discovery.Snapshot) string
}

// meshAround is what the objects under test route in.
const meshAround = `apiVersion: v1
kind: Service
metadata: {name: catalogue, namespace: shop}
spec:
  selector: {app: catalogue}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: catalogue-v1, namespace: shop, labels: {app: catalogue, version: v1}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: catalogue-v2, namespace: shop, labels: {app: catalogue, version: v2}}
status: {podIP: 10.0.0.2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: catalogue, namespace: shop}
spec:
  host: catalogue
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`

func folderCases(t *testing.T) []folderCase {
	var certs [2]string
	for i := range certs {
		cert, key := testKeyPair(t)
		certs[i] = fmt.Sprintf("{tls.crt: %s, tls.key: %s}", b64(cert), b64(key))
	}
	return []folderCase{{
		kind: "Service", name: "shop/orders",
		yaml: func(v int) string {
			return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: orders, namespace: shop}\nspec: {ports: [{name: http, port: %d}]}\n", []int{8080, 8081, 70000}[v])
		},
		served: func(s *discovery.Snapshot) string {
			if svc := s.ServiceByHost("orders.shop.svc.cluster.local"); svc != nil {
				return fmt.Sprintf("v%d", svc.Ports[0].Port-8080)
			}
			return ""
		},
	}, {
		kind: "Pod", name: "shop/sleep",
		yaml: func(v int) string {
			return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: sleep, namespace: shop}\nstatus: {podIP: %q}\n", []string{"10.0.1.0", "10.0.1.1", "10.0.1.1 "}[v])
		},
		served: func(s *discovery.Snapshot) string {
			if p := s.Pod("shop", "sleep"); p != nil {
				return "v" + strings.TrimPrefix(p.IP, "10.0.1.")
			}
			return ""
		},
	}, {
		kind: "EndpointSlice", name: "shop/catalogue-1",
		yaml: func(v int) string {
			return fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: catalogue-1, namespace: shop, labels: {kubernetes.io/service-name: catalogue}}
addressType: IPv4
ports: [{name: http, port: %d}]
endpoints: [{addresses: [10.2.0.1]}]
`, []int{8080, 8081, 70000}[v])
		},
		served: func(s *discovery.Snapshot) string {
			for _, ep := range s.Endpoints["shop/catalogue"] {
				if ep.Address == "10.2.0.1" {
					return fmt.Sprintf("v%d", ep.Ports["http"]-8080)
				}
			}
			return ""
		},
	}, {
		kind: "Secret", name: "shop/shop-cert",
		yaml: func(v int) string {
			data := "{tls.crt: bm90IGEgY2VydA==, tls.key: bm9yIGEga2V5}"
			if v < 2 {
				data = certs[v]
			}
			return "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-cert, namespace: shop}\ntype: kubernetes.io/tls\ndata: " + data + "\n"
		},
		served: func(s *discovery.Snapshot) string {
			sec := s.Secret("shop", "shop-cert")
			if sec == nil {
				return ""
			}
			for i, c := range certs {
				if strings.Contains(c, b64(sec.CertChain)) {
					return fmt.Sprintf("v%d", i)
				}
			}
			return "unknown"
		},
	}, {
		kind: "DestinationRule", name: "shop/orders",
		yaml: func(v int) string {
			subsets := []string{"[{name: a, labels: {x: a}}]", "[{name: b, labels: {x: b}}]", "[{name: a, labels: {x: a}}, {name: a, labels: {x: b}}]"}[v]
			return "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: orders, namespace: shop}\nspec: {host: orders, subsets: " + subsets + "}\n"
		},
		served: func(s *discovery.Snapshot) string {
			for _, dr := range s.DestinationRules {
				if dr.Name == "orders" {
					return map[string]string{"a": "v0", "b": "v1"}[dr.Spec.Subsets[0].Name]
				}
			}
			return ""
		},
	}, {
		kind: "Gateway", name: "shop/edge",
		yaml: func(v int) string {
			return fmt.Sprintf("apiVersion: networking.istio.io/v1alpha3\nkind: Gateway\nmetadata: {name: edge, namespace: shop}\n"+
				"spec: {servers: [{port: {number: %d, name: http, protocol: HTTP}, hosts: ['*']}]}\n", []int{8080, 8081, 0}[v])
		},
		served: func(s *discovery.Snapshot) string {
			for _, gw := range s.Gateways {
				if gw.Name == "edge" {
					return fmt.Sprintf("v%d", gw.Spec.Servers[0].Port.Number-8080)
				}
			}
			return ""
		},
	}, {
		kind: "AuthorizationPolicy", name: "shop/deny",
		yaml: func(v int) string {
			return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny, namespace: shop}\n" +
				"spec: {action: DENY, rules: [{to: [{operation: {paths: [" + []string{`"/a"`, `"/b"`, `""`}[v] + "]}}]}]}\n"
		},
		served: func(s *discovery.Snapshot) string {
			for _, ap := range s.AuthorizationPolicies {
				if ap.Name == "deny" {
					return map[string]string{"/a": "v0", "/b": "v1"}[ap.Spec.Rules[0].To[0].Operation.Paths[0]]
				}
			}
			return ""
		},
	}, {
		kind: "RequestAuthentication", name: "shop/jwt",
		yaml: func(v int) string {
			return fmt.Sprintf("apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: shop}\n"+
				"spec: {jwtRules: [{issuer: %q, jwksUri: \"https://keys.example/jwks\"}]}\n", []string{"https://a.example", "https://b.example", ""}[v])
		},
		served: func(s *discovery.Snapshot) string {
			for _, ra := range s.RequestAuthentications {
				if ra.Name == "jwt" {
					return map[string]string{"https://a.example": "v0", "https://b.example": "v1"}[ra.Spec.JwtRules[0].Issuer]
				}
			}
			return ""
		},
	}, {
		kind: "EnvoyFilter", name: "shop/patch",
		yaml: func(v int) string {
			patches := "[]"
			if v < 2 {
				patches = "[{applyTo: HTTP_FILTER, match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: " +
					[]string{"envoy.filters.http.cors", "envoy.filters.http.fault"}[v] + "}}}}}, patch: {operation: REMOVE}}]"
			}
			return "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: patch, namespace: shop}\nspec: {configPatches: " + patches + "}\n"
		},
		served: func(s *discovery.Snapshot) string {
			for _, ef := range s.EnvoyFilters {
				if ef.Name == "patch" {
					return map[string]string{"envoy.filters.http.cors": "v0", "envoy.filters.http.fault": "v1"}[ef.Spec.ConfigPatches[0].GetMatch().GetListener().GetFilterChain().GetFilter().GetSubFilter().GetName()]
				}
			}
			return ""
		},
	}, {
		kind: "RateLimitPolicy", name: "shop/limit",
		yaml: func(v int) string {
			return fmt.Sprintf("apiVersion: ratelimit.pilotlight.io/v1alpha1\nkind: RateLimitPolicy\nmetadata: {name: limit, namespace: shop}\n"+
				"spec: {selector: {matchLabels: {app: catalogue}}, local: {rules: [{limit: {requests: %d, unit: Minute}}]}}\n", []int{10, 20, 0}[v])
		},
		served: func(s *discovery.Snapshot) string {
			for _, p := range s.RateLimitPolicies {
				if p.Name == "limit" {
					return map[uint32]string{10: "v0", 20: "v1"}[p.Spec.Local.Rules[0].Limit.Requests]
				}
			}
			return ""
		},
	}, {
		kind: "VirtualService", name: "shop/catalogue",
		yaml: func(v int) string {
			return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: catalogue, namespace: shop}
spec:
  hosts: [catalogue]
  http:
  - route:
    - {destination: {host: catalogue, subset: v1}, weight: %d}
    - {destination: {host: catalogue, subset: v2}, weight: %d}
`, []int{80, 70, 80}[v], []int{20, 30, 30}[v])
		},
		served: func(s *discovery.Snapshot) string {
			for _, vs := range s.VirtualServices {
				if vs.Name == "catalogue" {
					return map[int32]string{80: "v0", 70: "v1"}[vs.Spec.Http[0].Route[0].Weight]
				}
			}
			return ""
		},
	}}
}

// replaceFile writes a file the safe way, through a rename, so that every
// version has an inode of its own.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestFolderLastGoodPerKind: in folder mode, for every kind, each way an
// edit can break an object (invalid values, a misspelt field, YAML that no
// longer parses, a file that can no longer be read) keeps its last valid
// version served, and says so; a fix replaces it; deleting the file
// forgets it, and a broken object that was never valid is skipped.
func TestFolderLastGoodPerKind(t *testing.T) {
	for _, tc := range folderCases(t) {
		t.Run(tc.kind, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"mesh.yaml": meshAround})
			path := filepath.Join(dir, "object.yaml")
			r := newReader(dir, Options{})
			version := uint64(0)
			invalid := tc.yaml(2)
			// A misspelt field: "metadata.lables" is in every kind.
			misspelt := strings.Replace(tc.yaml(1), "metadata: {", "metadata: {lables: {a: b}, ", 1)
			// No longer YAML: an unclosed flow mapping.
			broken := strings.Replace(tc.yaml(1), "metadata: {", "metadata: {{", 1)
			steps := []struct {
				what        string
				content     string // "" removes the file; "fifo" makes it a named pipe
				served      string
				stillServed bool
			}{
				{"valid", tc.yaml(0), "v0", false},
				{"invalid value", invalid, "v0", true},
				{"fixed", tc.yaml(1), "v1", false},
				{"misspelt field", misspelt, "v1", true},
				{"not YAML", broken, "v1", true},
				{"not a regular file", "fifo", "v1", true},
				{"valid again", tc.yaml(0), "v0", false},
				{"deleted", "", "", false},
				{"invalid, never valid since", invalid, "", false},
			}
			for _, step := range steps {
				_ = os.Remove(path)
				switch step.content {
				case "":
				case "fifo":
					if err := syscall.Mkfifo(path, 0o644); err != nil {
						t.Fatal(err)
					}
				default:
					replaceFile(t, path, step.content)
				}
				version++
				s, err := r.read(version, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got := tc.served(s); got != step.served {
					t.Errorf("%s: serves %q, want %q; problems %v", step.what, got, step.served, s.Problems)
				}
				var mine []discovery.Problem
				for _, p := range s.Problems {
					if p.Source == "object.yaml#0" || p.Source == "object.yaml" {
						mine = append(mine, p)
					}
				}
				if step.stillServed || step.what == "invalid, never valid since" {
					if len(mine) == 0 {
						t.Errorf("%s: no problem reported on object.yaml; problems %v", step.what, s.Problems)
					}
				} else if len(mine) > 0 {
					t.Errorf("%s: problems %v, want none", step.what, mine)
				}
				said := false
				for _, p := range mine {
					if strings.HasSuffix(p.Reason, discovery.StillServed) {
						said = true
						if p.Kind != tc.kind || p.Name != tc.name {
							t.Errorf("%s: problem %q does not name %s %s", step.what, p, tc.kind, tc.name)
						}
					}
				}
				if said != step.stillServed {
					t.Errorf("%s: problems %v; saying the previous version is served: %v, want %v", step.what, mine, said, step.stillServed)
				}
			}
		})
	}
}
