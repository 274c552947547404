package translate

import (
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestProxyFromNode(t *testing.T) {
	sidecar := "sidecar~10.244.0.2~web-0.shop~shop.svc.cluster.local"
	cases := []struct {
		name, id, mode string
		want           InterceptionMode
		err            string
	}{
		{name: "no metadata is local mode", id: sidecar},
		{name: "NONE", id: sidecar, mode: "NONE"},
		{name: "REDIRECT", id: sidecar, mode: "REDIRECT", want: InterceptRedirect},
		{name: "TPROXY is refused", id: sidecar, mode: "TPROXY", err: "TPROXY"},
		{name: "a gateway is never captured", id: "router~10.244.0.3~gw-0.shop~shop.svc.cluster.local", mode: "REDIRECT", err: "sidecars only"},
		{name: "bad id", id: "nonsense", err: "type~ip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			node := &core.Node{Id: tc.id}
			if tc.mode != "" {
				node.Metadata, _ = structpb.NewStruct(map[string]any{MetadataInterceptionMode: tc.mode})
			}
			p, err := ProxyFromNode(node)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Interception != tc.want || p.Captured() != (tc.want == InterceptRedirect) || p.PodName != "web-0" {
				t.Errorf("proxy = %+v, want interception %q", p, tc.want)
			}
		})
	}
}
