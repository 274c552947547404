#!/usr/bin/env bash
# Copies Istio's CRDs from the istio.io/api module that go.mod requires
# (kubernetes/customresourcedefinitions.gen.yaml) into deploy/crds/, so that
# `kubectl apply -k deploy/` installs the very CRDs whose Go types pilotlight
# reads. Run it after changing istio.io/api in go.mod (make crds);
# test/e2e_kube checks that the copy matches the module.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dir="$(go list -m -f '{{.Dir}}' istio.io/api)"
version="$(go list -m -f '{{.Version}}' istio.io/api)"
if [[ -z "$dir" ]]; then
  go mod download istio.io/api
  dir="$(go list -m -f '{{.Dir}}' istio.io/api)"
fi
src="$dir/kubernetes/customresourcedefinitions.gen.yaml"
out="deploy/crds/istio-crds.gen.yaml"
mkdir -p deploy/crds
{
  echo "# Istio's CRDs, copied from istio.io/api $version (kubernetes/customresourcedefinitions.gen.yaml)"
  echo "# by scripts/vendor-istio-crds.sh. Do not edit: change istio.io/api in go.mod and run make crds."
  cat "$src"
} >"$out"
echo "wrote $out from istio.io/api $version" >&2
