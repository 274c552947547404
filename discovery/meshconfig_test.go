package discovery

import (
	"strings"
	"testing"

	meshconfig "istio.io/api/mesh/v1alpha1"
)

func TestParseMeshConfig(t *testing.T) {
	allowAny, registryOnly := meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY, meshconfig.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY
	cases := []struct {
		name, yaml string
		mode       meshconfig.MeshConfig_OutboundTrafficPolicy_Mode
		problems   []string // fields reported
		err        string
	}{
		{name: "empty", yaml: "", mode: allowAny},
		{name: "registry only", yaml: "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n", mode: registryOnly},
		{name: "allow any", yaml: "outboundTrafficPolicy: {mode: ALLOW_ANY}\n", mode: allowAny},
		{name: "policy without mode keeps the default", yaml: "outboundTrafficPolicy: {}\n", mode: allowAny},
		{name: "dynamic dns", yaml: "outboundTrafficPolicy: {mode: ALLOW_ANY_DYNAMIC_DNS}\n", mode: allowAny, problems: []string{"outboundTrafficPolicy.mode"}},
		{name: "fields not read", yaml: "enableTracing: true\naccessLogFile: /dev/stdout\n", mode: allowAny, problems: []string{"accessLogFile", "enableTracing"}},
		{name: "unknown field", yaml: "outboundTrafficPolicy: {mode: REGISTRY_ONLY}\nnoSuchField: 1\n", err: "noSuchField"},
		{name: "bad mode", yaml: "outboundTrafficPolicy: {mode: SOMETIMES}\n", err: "SOMETIMES"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mc, problems, err := ParseMeshConfig("mesh.yaml", []byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mc.GetOutboundTrafficPolicy().GetMode(); got != tc.mode {
				t.Errorf("mode = %v, want %v", got, tc.mode)
			}
			var fields []string
			for _, p := range problems {
				fields = append(fields, p.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tc.problems, ",") {
				t.Errorf("problems on %v, want %v (%v)", fields, tc.problems, problems)
			}
		})
	}
}
