package translate

import (
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// TestBootstrapGolden: the bootstrap of a local-mode sidecar (what
// `pilotlight bootstrap` prints) and of an injected, captured one (DNS name
// of the xDS Service, node metadata, the readiness listener).
func TestBootstrapGolden(t *testing.T) {
	cases := map[string]BootstrapOptions{
		"local": {
			Proxy:     Proxy{Type: Sidecar, IP: "127.10.0.1", PodName: "front-end-v1", Namespace: "sock-shop"},
			XDSAddr:   "127.0.0.1:15010",
			AdminAddr: "127.20.0.1:15000",
		},
		"captured": {
			Proxy:          Proxy{Type: Sidecar, IP: "$(POD_IP)", PodName: "$(POD_NAME)", Namespace: "$(POD_NAMESPACE)", Interception: InterceptRedirect},
			ServiceAccount: "$(SERVICE_ACCOUNT)",
			XDSAddr:        "pilotlight.pilotlight-system.svc:15010",
			AdminAddr:      "127.0.0.1:15000",
			HealthPort:     HealthPort,
		},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := Bootstrap(opts)
			if err != nil {
				t.Fatal(err)
			}
			js, err := protojson.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			y, err := yaml.JSONToYAML(js)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "bootstrap", name+".yaml"), y)
		})
	}
}
