#!/usr/bin/env bash
# ensure-ratelimit.sh: build the envoyproxy/ratelimit service once and print
# its path; install Debian's redis-server (its backend) when it is missing.
#
# The service is built from the Go module proxy into a git-ignored cache
# keyed by version, so later runs cost nothing:
#
#   .tools/ratelimit/<version>/ratelimit
#
# The version is a pseudo-version of envoyproxy/ratelimit's main branch that
# builds with plain `go install` (no replace directives); releases before it
# do not build against today's module proxy. The build runs outside the
# project's module, so go.mod and go.sum are not touched.
#
# redis-server: Debian's package (7.0.x), installed with apt-get when no
# redis-server is on PATH (the tests start their own on a loopback port).
# Set RATELIMIT_SKIP_REDIS=1 to skip that step.
#
# Output: the service binary's path on stdout; progress on stderr.
set -euo pipefail

RATELIMIT_VERSION="${RATELIMIT_VERSION:-v1.4.1-0.20260122083618-3fb702589d36}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/.tools/ratelimit/$RATELIMIT_VERSION"
bin="$dir/ratelimit"

if [[ "${RATELIMIT_SKIP_REDIS:-0}" != 1 ]] && ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-ratelimit: installing redis-server with apt-get (Debian package)" >&2
  if [[ "$(id -u)" != 0 ]]; then
    echo "ensure-ratelimit: redis-server is missing and installing it needs root: apt-get install redis-server" >&2
    exit 1
  fi
  start=$SECONDS
  aptlog="$(mktemp)"
  # Only refresh the package lists when the package is not known yet.
  if ! { apt-cache show redis-server >/dev/null 2>&1 || apt-get update -qq; } >"$aptlog" 2>&1 ||
    ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >>"$aptlog" 2>&1; then
    echo "ensure-ratelimit: apt-get install redis-server failed:" >&2
    tail -n 20 "$aptlog" >&2
    rm -f "$aptlog"
    exit 1
  fi
  rm -f "$aptlog"
  # The package starts a system-wide redis on 6379 where there is an init
  # system; the tests never use it (they start their own on other ports).
  echo "ensure-ratelimit: redis-server installed in $((SECONDS - start))s" >&2
fi

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

echo "ensure-ratelimit: building github.com/envoyproxy/ratelimit@$RATELIMIT_VERSION into $dir (about a minute cold)" >&2
start=$SECONDS
mkdir -p "$dir"
# Build aside, then rename, so that a concurrent run never sees half a binary.
tmp="$(mktemp -d "$dir/.build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# GOFLAGS=-mod=mod: an inherited -mod=vendor would refuse a pkg@version install.
GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/envoyproxy/ratelimit/src/service_cmd@$RATELIMIT_VERSION" >&2
mv -f "$tmp/service_cmd" "$bin"
echo "ensure-ratelimit: built in $((SECONDS - start))s" >&2
echo "$bin"
