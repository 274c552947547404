#!/usr/bin/env bash
# ensure-fortio.sh: build the fortio load generator once and print its path.
#
# fortio drives the circuit-breaking end-to-end test (concurrent HTTP load,
# JSON results). It is built from the Go module proxy into a git-ignored
# cache keyed by version, so later runs cost nothing:
#
#   .tools/fortio/<version>/fortio
#
# `go install fortio.org/fortio@latest` fails (a dependency of a newer
# release is refused by the proxy); this version is known to build and work.
# The build runs outside the project's module (`go install pkg@version`), so
# go.mod and go.sum are not touched.
#
# Output: the binary's path on stdout; progress on stderr.
set -euo pipefail

FORTIO_VERSION="${FORTIO_VERSION:-v1.68.2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/.tools/fortio/$FORTIO_VERSION"
bin="$dir/fortio"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

echo "ensure-fortio: building fortio.org/fortio@$FORTIO_VERSION into $dir (about a minute cold)" >&2
mkdir -p "$dir"
# Build aside, then rename, so that a concurrent run never sees half a binary.
tmp="$(mktemp -d "$dir/.build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# GOFLAGS=-mod=mod: an inherited -mod=vendor would refuse a pkg@version install.
GOBIN="$tmp" GOFLAGS=-mod=mod go install "fortio.org/fortio@$FORTIO_VERSION" >&2
mv -f "$tmp/fortio" "$bin"
echo "$bin"
