#!/usr/bin/env bash
# go-cold.sh WHAT test|build PKG...: before a step that compiles Go code,
# says (once, on stderr) what a cold machine is about to spend minutes on:
# downloading the modules, then compiling the packages that Go's build
# cache does not hold yet. On a warm machine it says nothing and costs
# about two seconds (go list and go -n do not compile).
#
#   scripts/go-cold.sh "make test" test ./...
#   scripts/go-cold.sh "make demo" build ./cmd/pilotlight ./test/echo
#
# Measured on a busy 2-core machine: a cold `make test` (modules, the
# Kubernetes binaries, every test package) takes about 15-20 minutes.
set -euo pipefail

what="$1" mode="$2"
shift 2
go="${GO:-go}"

say() { echo "$what: $*" >&2; }

# Modules: with the proxy off, listing the packages fails if a module they
# come from is not downloaded yet; listing them again with it on fetches
# what is missing (and nothing else: go.mod and go.sum stay as they are).
deps=(list -deps "$@")
[[ "$mode" == test ]] && deps=(list -deps -test "$@")
if ! GOPROXY=off "$go" "${deps[@]}" >/dev/null 2>&1; then
  say "downloading the Go modules pilotlight needs (a cold machine fetches a few hundred; expect a few minutes)"
  "$go" "${deps[@]}" >/dev/null
fi

# Packages: -n prints the compile of every package the cache lacks.
n="$("$go" "$mode" -n "$@" 2>&1 | grep -c 'compile -o' || true)"
if (( n > 100 )); then
  say "compiling $n Go packages not in the build cache yet (cold: several minutes on 2 cores, seconds afterwards)"
fi
