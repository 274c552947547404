package xds

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/translate"
)

// A small mesh in the folder format, for the tests of what a proxy is sent
// when: the service front-end (pods v1 and v2), a client pod, and an
// ingress gateway with a Gateway on port 8080, all in local mode.

const testMeshBase = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: front-end, namespace: shop}
spec:
  selector: {app: front-end}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata:
  name: front-end-v1
  namespace: shop
  labels: {app: front-end, version: v1}
  annotations: {sidecar.pilotlight.io/local-address: 127.30.0.1}
spec:
  containers: [{name: app, image: echo, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: 127.31.0.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: front-end-v2
  namespace: shop
  labels: {app: front-end, version: v2}
  annotations: {sidecar.pilotlight.io/local-address: 127.30.0.2}
spec:
  containers: [{name: app, image: echo, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: 127.31.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: sleep
  namespace: shop
  labels: {app: sleep}
  annotations: {sidecar.pilotlight.io/local-address: %s}
spec:
  containers: [{name: client, image: echo}]
status: {phase: Running, podIP: 127.31.0.3, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: ingressgateway
  namespace: shop
  labels: {istio: ingressgateway}
  annotations: {sidecar.pilotlight.io/local-address: 127.30.0.4}
spec:
  containers: [{name: gateway, image: envoy}]
status: {phase: Running, podIP: 127.31.0.4, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gateway, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: %d, name: http, protocol: HTTP}
    hosts: [shop.example.com]
`

// release: front-end's only subset is `subset`, and the mesh and the
// gateway send all of front-end to it (the tutorial's blue/green file).
const release = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: front-end, namespace: shop}
spec:
  host: front-end.shop.svc.cluster.local
  subsets: [{name: %[1]s, labels: {version: %[1]s}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front-end, namespace: shop}
spec:
  hosts: [front-end.shop.svc.cluster.local]
  http: [{route: [{destination: {host: front-end.shop.svc.cluster.local, subset: %[1]s}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: shop}
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  http: [{route: [{destination: {host: front-end, subset: %[1]s}}]}]
`

// testMesh is a variant of the mesh.
type testMesh struct {
	subset      string // the release's subset
	gatewayPort int    // the Gateway server's port (default 8080)
	sleepLocal  string // the client pod's local address (default 127.30.0.3)
}

func (m testMesh) snapshot(t testing.TB) *discovery.Snapshot {
	t.Helper()
	if m.gatewayPort == 0 {
		m.gatewayPort = 8080
	}
	if m.sleepLocal == "" {
		m.sleepLocal = "127.30.0.3"
	}
	// discovery refuses a local address that is not an IP (and serves the
	// pod's last good version); to test the checks before sending, such an
	// address is put into the snapshot after discovery.
	local := m.sleepLocal
	if _, err := discovery.ParseIP(local); err != nil {
		m.sleepLocal = "127.30.0.3"
	}
	dir := t.TempDir()
	files := map[string]string{"base.yaml": fmt.Sprintf(testMeshBase, m.sleepLocal, m.gatewayPort)}
	if m.subset != "" {
		files["release.yaml"] = fmt.Sprintf(release, m.subset)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := folder.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Problems) > 0 {
		t.Fatalf("test mesh has problems: %v", snap.Problems)
	}
	if local != m.sleepLocal {
		p := snap.Pod("shop", "sleep")
		p.Annotations = maps.Clone(p.Annotations)
		p.Annotations[discovery.LocalAddressAnnotation] = local
	}
	return snap
}

var (
	sleepNode   = translate.Proxy{Type: translate.Sidecar, IP: "127.31.0.3", PodName: "sleep", Namespace: "shop"}.NodeID()
	gatewayNode = translate.Proxy{Type: translate.Router, IP: "127.31.0.4", PodName: "ingressgateway", Namespace: "shop"}.NodeID()
)

func subsetCluster(subset string) string {
	return translate.OutboundClusterName(80, subset, "front-end.shop.svc.cluster.local")
}
