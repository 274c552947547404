#!/usr/bin/env bash
# Finds or builds the real Kubernetes control plane that the Kubernetes-mode
# tests run on loopback: kube-apiserver, kube-controller-manager and kubectl
# (k8s.io/kubernetes v1.34.4) and etcd (go.etcd.io/etcd/server/v3, the version
# Kubernetes 1.34 requires), all from the Go module proxy via the tools module
# in test/kube/tools. Prints the directory holding the four binaries on
# stdout; everything else goes to stderr.
#
#   KUBE_BIN_DIR=$(scripts/ensure-kube.sh)
#
# Idempotent: the binaries are cached in .cache/kube/<version>-<stamp>/
# (git-ignored), the stamp being a hash of the tools module; they are built
# only when that folder is missing, so branches with different tools modules
# sharing one cache never rebuild over each other. A cold build takes 5-10
# minutes on 2 cores (kube-apiserver alone about 3.5, kubectl about half a
# minute more); with Go's build cache, seconds. Concurrent runs wait for
# each other (flock).
#
# Environment: KUBE_CACHE_DIR overrides .cache/kube; GO the go command.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/test/kube/tools"
version="v1.34.4" # must match k8s.io/kubernetes in $tools/go.mod
go="${GO:-go}"
cache="${KUBE_CACHE_DIR:-$root/.cache/kube}"
bins=(kube-apiserver kube-controller-manager kubectl etcd)

log() { echo "ensure-kube: $*" >&2; }

if ! grep -q "k8s.io/kubernetes $version\$" "$tools/go.mod"; then
  log "$tools/go.mod does not require k8s.io/kubernetes $version"
  exit 1
fi

# The stamp names everything that decides what gets built.
stamp() {
  {
    echo "$version"
    "$go" version
    cat "$tools/go.mod" "$tools/go.sum" "$tools/tools.go" "$tools/cmd/etcd/main.go"
  } | sha256sum | cut -d' ' -f1
}

up_to_date() {
  local b
  for b in "${bins[@]}"; do
    [[ -x "$dir/$b" ]] || return 1
  done
  [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$want" ]]
}

want="$(stamp)"
dir="$cache/$version-${want:0:12}"
if up_to_date; then
  echo "$dir"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
  log "another ensure-kube.sh is building; waiting"
  flock 9
fi
if up_to_date; then # built by whoever held the lock
  echo "$dir"
  exit 0
fi

major="${version#v}"; major="${major%%.*}"
minor="${version#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=$version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=$major"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

tmp="$(mktemp -d "$cache/.build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

start=$SECONDS
log "building kube-apiserver, kube-controller-manager, kubectl $version and etcd into $dir, once (cold: 5-10 minutes on 2 cores; cached afterwards)"
(
  cd "$tools"
  # GOWORK=off: a go.work above must not pull the main module in.
  # -mod=readonly: go.sum is committed; never rewrite it here.
  GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly" "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl \
    ./cmd/etcd
) >&2

got="$("$tmp/kube-apiserver" --version 2>&1 || true)"
if [[ "$got" != "Kubernetes $version" ]]; then
  log "built kube-apiserver reports '$got', want 'Kubernetes $version'"
  exit 1
fi

mkdir -p "$dir"
for b in "${bins[@]}"; do
  mv -f "$tmp/$b" "$dir/$b"
done
echo "$want" >"$dir/.stamp"
log "built in $((SECONDS - start)) s"
echo "$dir"
