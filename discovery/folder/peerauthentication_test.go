package folder

import (
	"strings"
	"testing"
	"time"

	security "istio.io/api/security/v1beta1"
)

func TestLoadPeerAuthentications(t *testing.T) {
	snap := mustLoad(t, map[string]string{"pa.yaml": `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop, creationTimestamp: "2024-05-01T10:00:00Z"}
spec:
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: db, namespace: shop}
spec:
  selector:
    matchLabels: {app: db}
  mtls: {mode: DISABLE}
  portLevelMtls:
    5432: {mode: PERMISSIVE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: misspelt, namespace: shop}
spec:
  mtsl: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: unknown-mode, namespace: shop}
spec:
  mtls: {mode: SOMETIMES}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ports-without-selector, namespace: shop}
spec:
  portLevelMtls:
    8080: {mode: DISABLE}
`})
	if len(snap.PeerAuthentications) != 2 {
		t.Fatalf("loaded %d PeerAuthentications, want default and db", len(snap.PeerAuthentications))
	}
	db, def := snap.PeerAuthentications[0], snap.PeerAuthentications[1]
	if def.Spec.GetMtls().GetMode() != security.PeerAuthentication_MutualTLS_STRICT {
		t.Errorf("default: mode %v", def.Spec.GetMtls().GetMode())
	}
	if !def.Created.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("default: created %v, want its creationTimestamp", def.Created)
	}
	if db.Spec.GetPortLevelMtls()[5432].GetMode() != security.PeerAuthentication_MutualTLS_PERMISSIVE || db.Spec.GetSelector().GetMatchLabels()["app"] != "db" {
		t.Errorf("db (v1beta1): %v", db.Spec)
	}
	want := map[string]string{
		"shop/misspelt":               "spec.mtsl",
		"shop/unknown-mode":           "spec.mtls.mode",
		"shop/ports-without-selector": "spec.portLevelMtls",
	}
	for _, p := range snap.Problems {
		if field, ok := want[p.Name]; ok && p.Kind == "PeerAuthentication" && strings.HasPrefix(p.Field, field) && strings.HasPrefix(p.Source, "pa.yaml#") {
			delete(want, p.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("not reported: %v; problems: %v", want, snap.Problems)
	}
}
