#!/usr/bin/env bash
# ensure-chromium.sh: install Debian's chromium when it is missing, and
# print the path of the browser binary.
#
# The web view's end-to-end test (test/e2e, TestWebUI) loads /ui in real
# headless Chromium. Debian packages it; nothing is downloaded but the
# package. The Debian wrapper script /usr/bin/chromium is skipped for the
# binary it wraps, whose flags the test sets itself.
#
# Output: the binary's path on stdout; progress on stderr.
set -euo pipefail

find_chromium() {
  for p in /usr/lib/chromium/chromium "$(command -v chromium || true)" "$(command -v chromium-browser || true)"; do
    if [[ -n "$p" && -x "$p" ]]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

if find_chromium; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no chromium and no apt-get to install it" >&2
  exit 1
fi
echo "ensure-chromium: installing Debian's chromium (a minute or two)" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock for a while: wait for it.
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >&2
find_chromium
