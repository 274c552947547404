package fuzz

// Seeds: one rich document per kind, using most fields pilotlight reads.

const seedVirtualService = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: fuzz, namespace: sock-shop}
spec:
  hosts: [catalogue]
  http:
  - name: rich
    match:
    - uri: {regex: "/items/[a-z0-9]{1,8}"}
      headers: {x-user: {exact: alice}, user-agent: {regex: ".*Firefox.*"}}
      queryParams: {q: {prefix: a}}
      ignoreUriCase: true
    headers:
      request: {set: {x-from: "%DOWNSTREAM_REMOTE_ADDRESS%"}, remove: [x-debug]}
      response: {add: {x-served: pilotlight}}
    rewrite: {uri: /v2/}
    timeout: 5s
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: "5xx,connect-failure"}
    fault: {delay: {fixedDelay: 10ms, percentage: {value: 5}}, abort: {httpStatus: 503, percentage: {value: 1}}}
    mirror: {host: catalogue}
    mirrorPercentage: {value: 10}
    corsPolicy: {allowOrigins: [{exact: "https://example.com"}], allowMethods: [GET], maxAge: 24h}
    route:
    - {destination: {host: catalogue}, weight: 100}
  - route:
    - destination: {host: catalogue}
`

const seedDestinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: fuzz, namespace: sock-shop}
spec:
  host: catalogue
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 1024}}}
    connectionPool:
      tcp: {maxConnections: 10, connectTimeout: 250ms, tcpKeepalive: {time: 60s, interval: 10s, probes: 3}}
      http: {http1MaxPendingRequests: 5, maxRequestsPerConnection: 2, idleTimeout: 30s}
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
`

const seedGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: fuzz, namespace: sock-shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8081, name: http-fuzz, protocol: HTTP}
    hosts: ["fuzz.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: fuzz-gw, namespace: sock-shop}
spec:
  hosts: ["fuzz.example.com"]
  gateways: [fuzz]
  http:
  - match: [{uri: {prefix: /}}]
    route: [{destination: {host: front-end, port: {number: 80}}}]
`

const seedService = `apiVersion: v1
kind: Service
metadata: {name: orders, namespace: sock-shop}
spec:
  selector: {app: catalogue}
  ports:
  - {name: http, port: 8080, targetPort: http}
  - {name: tcp-db, port: 27017, targetPort: 8080}
`

const seedPod = `apiVersion: v1
kind: Pod
metadata:
  name: fuzz-pod
  namespace: sock-shop
  labels: {app: catalogue, version: v3}
  annotations: {sidecar.pilotlight.io/local-address: 127.20.0.99}
spec:
  containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]
status: {podIP: 127.10.0.99}
`
